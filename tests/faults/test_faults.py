"""The promises of resume and fault tolerance, each broken on purpose once."""

import hashlib
import json
import os
import re
import shutil
import signal
from collections import Counter

import pandas as pd
import pytest

from gradsweep.results import load_results
from tests.helpers import SEARCH_SPEC, epochs_of, trial_dirs, wait_for

pytestmark = pytest.mark.integration


def test_killed_worker_resumes_from_its_last_state(run_env):
    start, cwd = run_env
    driver = start("launch", "faulty.yaml")
    experiment = cwd / "results" / "faulty"

    def a_trial_mid_run():
        for trial in trial_dirs(experiment):
            rows = epochs_of(trial)
            if len(rows) >= 2 and not (trial / "final.json").exists():
                return trial, rows
        return None

    victim, before = wait_for(a_trial_mid_run, what="a trial past epoch 2")
    os.kill(before[-1]["pid"], signal.SIGKILL)
    code, _out, err = driver.wait()
    assert code == 0, err[-2000:]
    rows = epochs_of(victim)
    assert "final" in rows[-1] and rows[-1]["epoch"] > len(before)
    # The epochs finished before the kill are not trained again; only the one in flight when
    # the state was saved may appear twice (same metrics: training is deterministic).
    counts = Counter(r["epoch"] for r in rows)
    repeated = [e for e, n in counts.items() if n > 1]
    assert all(e >= len(before) for e in repeated), counts
    assert len({r["pid"] for r in rows}) == 2  # a new worker took over
    trials = load_results(experiment).trials
    assert len(trials) == 6 and set(trials["status"]) == {"TERMINATED"}
    assert trials["test_acc"].notna().all()


def test_killed_driver_then_resume_after_a_move_reruns_no_finished_trial(run_env):
    """Killed mid-sweep, the directory moved to another storage path, resumed there."""
    start, cwd = run_env
    launched = cwd / "results" / "faulty"
    driver = start("launch", "faulty.yaml")
    wait_for(lambda: len(list(launched.glob("*/final.json"))) >= 2, what="two finished trials")
    driver.kill_all()  # SIGKILL to the driver and the Ray it started
    (cwd / "moved").mkdir()
    experiment = launched.rename(cwd / "moved" / "faulty")
    finished = {p.parent.name: p.read_text() for p in experiment.glob("*/final.json")}
    rows_before = {t.name: len(epochs_of(t)) for t in trial_dirs(experiment)}
    assert 2 <= len(finished) < 6
    code, out, err = start("resume", "faulty", "--storage", "moved").wait()
    assert code == 0, err[-2000:]
    assert f"resuming faulty: {len(finished)}/6 trials finished before" in out
    assert not launched.exists()  # nothing written at the launch-time path
    # finished trials: not rerun (final.json untouched, no new epoch rows)
    for trial_id, text in finished.items():
        assert (experiment / trial_id / "final.json").read_text() == text
        assert len(epochs_of(experiment / trial_id)) == rows_before[trial_id]
    trials = load_results(experiment).trials
    assert len(trials) == 6 and trials["trial_id"].is_unique
    assert set(trials["status"]) == {"TERMINATED"}
    results = load_results(experiment)
    per_trial = results.epochs.groupby("trial_id").size()
    expected = results.trials.set_index("trial_id")["epochs_run"].astype(int)
    assert (per_trial == expected).all()  # exactly one row per epoch
    # a second resume has nothing to do
    code, out, _ = start("resume", "faulty", "--storage", "moved").wait()
    assert code == 0 and "nothing to do" in out


def test_resume_counts_finished_trials_as_status_does_in_the_lag_window(run_env):
    """The window: trials finished, Tune's experiment state still calls them unfinished.
    `resume`'s "N/M finished before" is what `status` shows, and none of them runs again."""
    start, cwd = run_env
    experiment = cwd / "results" / "faulty"
    driver = start("launch", "faulty.yaml")
    wait_for(lambda: len(list(experiment.glob("*/final.json"))) >= 2, what="two finished trials")
    driver.kill_all()
    # Put Tune's state back to 'nothing finished yet', as if the driver died right after
    # the trials ended but before Tune saved its state.
    for state_file in experiment.glob("experiment_state-*.json"):
        data = json.loads(state_file.read_text())
        for entry in data["trial_data"]:
            trial = json.loads(entry[0])
            trial["status"] = "PENDING"
            entry[0] = json.dumps(trial)
        state_file.write_text(json.dumps(data))
    finals = {p: p.read_text() for p in experiment.glob("*/final.json")}
    code, out, err = start("status", "faulty").wait()
    assert code == 0, err[-2000:]
    shown = int(re.search(r"(\d+) TERMINATED", out).group(1))
    assert shown == len(finals)
    code, out, err = start("resume", "faulty").wait()
    assert code == 0, err[-2000:]
    assert f"resuming faulty: {shown}/6 trials finished before" in out
    assert all(p.read_text() == text for p, text in finals.items())
    assert all("final" in epochs_of(t)[-1] for t in trial_dirs(experiment))
    assert all(len(epochs_of(t)) == epochs_of(t)[-1]["epoch"] for t in trial_dirs(experiment))


def test_ctrl_c_exits_130_and_resume_completes(run_env):
    start, cwd = run_env
    experiment = cwd / "results" / "faulty"
    driver = start("launch", "faulty.yaml")
    wait_for(lambda: any(epochs_of(t) for t in trial_dirs(experiment)), what="a first epoch")
    driver.signal(signal.SIGINT)
    code, _, err = driver.wait()
    assert code == 130, err[-2000:]
    assert "gradsweep resume faulty" in err and "Traceback" not in err
    results = load_results(experiment)  # readable: nothing corrupt on disk
    assert len(results.trials) <= 6
    code, _out, err = start("resume", "faulty").wait()
    assert code == 0, err[-2000:]
    assert set(load_results(experiment).trials["status"]) == {"TERMINATED"}


def test_second_ctrl_c_exits_at_once(run_env):
    start, cwd = run_env
    experiment = cwd / "results" / "faulty"
    driver = start("launch", "faulty.yaml")
    wait_for(lambda: any(epochs_of(t) for t in trial_dirs(experiment)), what="a first epoch")
    driver.signal(signal.SIGINT)
    driver.signal(signal.SIGINT)
    code, _, err = driver.wait(timeout=30)
    assert code == 130 and "Traceback" not in err


# The frontier walk of test_sweep's spec, with trials long enough to kill the driver mid-walk.
WALK_SPEC = SEARCH_SPEC.replace("train_size: 512", "train_size: 1024") + (
    "search: {{method: frontier, axis: gap}}\n"
)


def digest(directory) -> dict[str, str]:
    """Every file under `directory` by relative path, as a hash of its bytes."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_killed_driver_mid_search_then_resume_of_a_copy_reaches_the_same_frontier(run_env):
    """A frontier search killed mid-walk, copied elsewhere and resumed there: the walk is
    rebuilt from the records, no config runs twice, and the original is left untouched."""
    from gradsweep.analysis import frontier

    start, cwd = run_env
    for name in ("walk", "whole"):
        (cwd / f"{name}.yaml").write_text(WALK_SPEC.format(name=name))
    original = cwd / "results" / "walk"
    driver = start("launch", "walk.yaml")
    wait_for(lambda: len(list(original.glob("*/final.json"))) >= 2, what="two finished trials")
    driver.kill_all()
    experiment = cwd / "copy" / "walk"
    shutil.copytree(original, experiment, symlinks=True)
    untouched = digest(original)
    finished = {p.parent.name: p.read_text() for p in experiment.glob("*/final.json")}
    rows_before = {t.name: len(epochs_of(t)) for t in trial_dirs(experiment)}
    code, out, err = start("resume", str(experiment)).wait(timeout=300)
    assert code == 0, err[-2000:]
    assert digest(original) == untouched
    for trial_id, text in finished.items():  # finished trials were not run again
        assert (experiment / trial_id / "final.json").read_text() == text
        assert len(epochs_of(experiment / trial_id)) == rows_before[trial_id]
    code, _, err = start("launch", "whole.yaml").wait(timeout=300)
    assert code == 0, err[-2000:]
    resumed = load_results(experiment).trials
    whole = load_results(cwd / "results" / "whole").trials
    configs = resumed[["arch", "gap"]].astype(str).agg("/".join, axis=1)
    assert configs.is_unique  # no config ran twice under two trial ids
    assert set(resumed["status"]) == {"TERMINATED"}
    assert sorted(configs) == sorted(whole[["arch", "gap"]].astype(str).agg("/".join, axis=1))
    got, want = frontier(resumed).set_index("arch"), frontier(whole).set_index("arch")
    assert got["frontier"].equals(want["frontier"]) and got["above"].equals(want["above"])
    measured = ["arch", "gap", "epochs_run", "solved", "best_val_acc", "test_acc"]
    pd.testing.assert_frame_equal(  # trials are deterministic per config
        resumed[measured].sort_values(["arch", "gap"]).reset_index(drop=True),
        whole[measured].sort_values(["arch", "gap"]).reset_index(drop=True),
    )
    code, out, _ = start("resume", str(experiment)).wait()
    assert code == 0 and "nothing to do" in out


def test_watch_shows_finished_and_running_trials_of_a_live_sweep(run_env, capsys):
    from gradsweep.cli import main

    start, cwd = run_env
    experiment = cwd / "results" / "faulty"
    driver = start("launch", "faulty.yaml")

    def finished_and_running():
        finals = {p.parent for p in experiment.glob("*/final.json")}
        logs = {p.parent for p in experiment.glob("*/epochs.jsonl")}
        return finals and logs - finals

    wait_for(finished_and_running, what="a finished and a running trial")

    def frame_with_both() -> str | None:
        # A trial that has just opened its log but not yet written a line is still pending
        # in Tune's lagging state, so one frame may miss it: the view must show both soon.
        assert main(["watch", str(experiment), "--once"]) == 0
        out = capsys.readouterr().out
        return out if "terminated" in out and "running" in out else None

    out = wait_for(frame_with_both, what="a frame with terminated and running trials")
    assert "of" in out.split("running", 1)[1]  # the running table: epoch N of max
    code, _, err = driver.wait(timeout=300)
    assert code == 0, err[-2000:]


def test_a_killed_local_sweep_copied_to_s3_resumes_there_and_matches_local_storage(
    s3, run_env, tmp_path
):
    """The driver dies mid-sweep on local disk; the directory is copied to a bucket (moto on
    loopback) and resumed there, trial workers writing through S3; the local original is
    left as it was; the tables equal those of the same sweep run uninterrupted on disk."""
    import pyarrow.fs as pafs

    start, cwd = run_env
    uri = "s3://gradsweep/sweeps"
    fs, root = pafs.FileSystem.from_uri(f"{uri}/faulty")
    launched = cwd / "results" / "faulty"

    def finals() -> dict[str, bytes]:
        selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
        paths = [i.path for i in fs.get_file_info(selector) if i.base_name == "final.json"]
        out = {}
        for path in paths:
            with fs.open_input_stream(path) as stream:
                out[path] = stream.read()
        return out

    driver = start("launch", "faulty.yaml")
    wait_for(lambda: len(list(launched.glob("*/final.json"))) >= 2, what="two finished trials")
    driver.kill_all()
    untouched = digest(launched)
    pafs.copy_files(
        str(launched), root, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs
    )
    before = finals()
    assert 2 <= len(before) < 6
    code, _, err = start("resume", f"{uri}/faulty").wait(timeout=300)
    assert code == 0, err[-2000:]
    after = finals()
    assert {k: after[k] for k in before} == before  # finished trials were not run again
    assert digest(launched) == untouched
    code, _, err = start("launch", "faulty.yaml", "--storage", str(cwd / "local")).wait(300)
    assert code == 0, err[-2000:]
    remote = load_results(f"{uri}/faulty", cache_dir=tmp_path / "cache").trials
    local = load_results(cwd / "local" / "faulty").trials
    measured = ["arch", "gap", "epochs_run", "best_val_acc", "test_acc", "grad_norm_max"]
    key = ["arch", "gap"]
    assert set(remote["status"]) == {"TERMINATED"} and len(remote) == 6
    pd.testing.assert_frame_equal(
        remote[measured].sort_values(key).reset_index(drop=True),
        local[measured].sort_values(key).reset_index(drop=True),
    )


PLANTED_SPEC = """
name: planted
task: recall
axes: {arch: [rnn], gap: [2], seq_len: gap+3, seed: [0, 1]}
fixed: {hidden: 8, batch_size: 32, train_size: 256, val_size: 128, test_size: 128,
        probe_size: 32}
budget: {max_epochs: 2}
"""


class Planted:
    """Unpickling this creates the file `marker`: proof that someone unpickled it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_resume_unpickles_nothing_planted_in_the_experiment(run_env):
    """A malicious pickle at every path a resume could read (Tune's tuner.pkl, its
    searcher states, every trial's params.pkl) is never executed, and the resume works."""
    import pickle

    start, cwd = run_env
    (cwd / "planted.yaml").write_text(PLANTED_SPEC)
    experiment = cwd / "results" / "planted"
    code, _, err = start("launch", "planted.yaml").wait()
    assert code == 0, err[-2000:]
    # One trial loses its records, as if it had never finished; Tune's state goes too.
    victim = trial_dirs(experiment)[0]
    for name in ("final.json", "epochs.jsonl"):
        (victim / name).unlink()
    for state in experiment.glob("experiment_state-*.json"):
        state.unlink()
    marker = cwd / "PWNED"
    payload = pickle.dumps(Planted(str(marker)))
    targets = {experiment / "tuner.pkl", experiment / "searcher-state-2026-01-01.pkl"}
    targets |= set(experiment.glob("*.pkl")) | set(experiment.glob("*/*.pkl"))
    targets |= {t / "params.pkl" for t in trial_dirs(experiment)}
    for target in targets:
        target.write_bytes(payload)
    assert len(targets) >= 4
    code, out, err = start("resume", "planted").wait()
    assert code == 0, err[-2000:]
    assert "resuming planted: 1/2 trials finished before" in out
    assert not marker.exists()
    assert (victim / "final.json").exists()
