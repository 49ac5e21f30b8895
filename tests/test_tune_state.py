"""Reading Tune's experiment state as JSON, and the one rule for a trial's status."""

import json

import pyarrow.fs as pafs
import pytest

from gradsweep import tune_state


def write_state(directory, name, trials):
    """An experiment state file with `trials` as (trial id, status, directory or None)."""
    trial_data = []
    for trial_id, status, logdir in trials:
        trial = {"trial_id": trial_id, "status": status, "config": {"trial": {"gap": 1}}}
        if logdir:
            trial["relative_logdir"] = logdir
        trial_data.append([json.dumps(trial), "{}"])
    (directory / name).write_text(json.dumps({"trial_data": trial_data}))


def test_statuses_come_from_the_newest_experiment_state(tmp_path):
    fs = pafs.LocalFileSystem()
    assert tune_state.read_statuses(fs, str(tmp_path)) == {}
    write_state(tmp_path, "experiment_state-2026-01-01_00-00-00.json", [("a", "RUNNING", None)])
    write_state(
        tmp_path,
        "experiment_state-2026-01-02_00-00-00.json",
        [("a", "TERMINATED", None), ("b", "ERROR", None)],
    )
    assert tune_state.read_statuses(fs, str(tmp_path)) == {"a": "TERMINATED", "b": "ERROR"}
    (tmp_path / "experiment_state-2026-01-03_00-00-00.json").write_text("{torn")
    assert tune_state.read_statuses(fs, str(tmp_path)) == {}  # unreadable: inferred from files


def test_trials_are_keyed_by_their_directory(tmp_path):
    write_state(tmp_path, "experiment_state-x.json", [("abc_00000", "PENDING", "gap-1_0123456789")])
    trials = tune_state.read_trials(pafs.LocalFileSystem(), str(tmp_path))
    assert trials == {
        "gap-1_0123456789": {"status": "PENDING", "config": {"gap": 1}, "trial_id": "abc_00000"}
    }


@pytest.mark.parametrize(
    ("tune", "final", "errored", "expected"),
    [
        ("RUNNING", True, False, "TERMINATED"),  # the records beat a lagging state
        ("PENDING", False, False, "RUNNING"),  # its params.json is there: it has started
        ("PENDING", False, True, "PENDING"),  # an attempt failed: its retry waits
        ("ERROR", False, True, "ERROR"),
        (None, False, True, "ERROR"),  # no state: the error file says
        (None, False, False, "RUNNING"),
    ],
)
def test_a_trials_status_is_its_records_first_then_tunes(tune, final, errored, expected):
    assert tune_state.trial_status(tune, final, errored) == expected
