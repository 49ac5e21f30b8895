"""`resume` planned from gradsweep's own records, without Ray: what is left, the counts
`status` shows, the fit check, the refusal of an older layout. (The runs themselves are
in tests/faults/test_faults.py.)"""

import json
import shutil

import pytest

from gradsweep import layout
from gradsweep.errors import ConfigError
from gradsweep.results import load_results, status_counts
from gradsweep.spec import SweepSpec
from gradsweep.sweep.resume import prepare_resume

SPEC = {
    "name": "exp",
    "task": "recall",
    "axes": {"arch": ["rnn", "gru"], "gap": [1, 2, 4], "seq_len": "gap+2", "seed": [0]},
    "fixed": {"hidden": 8, "batch_size": 32, "train_size": 256, "val_size": 128},
    "budget": {"max_epochs": 2},
}


def configs_of(spec: dict, threads: int = 1) -> list[dict]:
    trials = SweepSpec.model_validate(spec).expand().trials
    return [{**t.model_dump(), "threads": threads} for t in trials]


def make_experiment(root, spec: dict, outcomes: dict[tuple, bool | None], gpus: float = 0):
    """An experiment directory as a launch leaves it: the manifest, and for each
    (arch, gap) in `outcomes` a trial directory with params and an epoch line; a final
    row where the outcome is True/False (solved or not), none where it is None."""
    configs = configs_of(spec)
    swept = layout.swept_fields(configs)
    root.mkdir(parents=True)
    manifest = {
        "spec": SweepSpec.model_validate(spec).to_dict(),
        "resources": {"cpus_per_trial": 1, "gpus_per_trial": gpus},
        "trials": len(configs),
        "layout": layout.LAYOUT_VERSION,
        "swept": list(swept),
    }
    (root / layout.MANIFEST).write_text(json.dumps(manifest))
    for config in configs:
        key = (config["arch"], config["gap"])
        if key not in outcomes:
            continue
        trial = root / layout.trial_dirname(config, swept)
        trial.mkdir()
        (trial / layout.PARAMS).write_text(json.dumps({"trial": config}))
        line = {"epoch": 1, "samples_seen": 256, "val_acc": 0.5}
        if outcomes[key] is not None:
            line["final"] = {"solved": outcomes[key], "epochs_run": 1}
            (trial / layout.FINAL).write_text(json.dumps(line))
        (trial / layout.EPOCHS).write_text(json.dumps(line) + "\n")
    return root


def test_a_grid_resumes_only_its_unfinished_configs(tmp_path):
    outcomes = {("rnn", 1): True, ("rnn", 2): False, ("gru", 1): None}
    experiment = make_experiment(tmp_path / "exp", SPEC, outcomes)
    plan = prepare_resume(str(experiment))
    left = sorted((c["arch"], c["gap"]) for c in plan.plan.configs)
    assert left == [("gru", 1), ("gru", 2), ("gru", 4), ("rnn", 4)]
    assert (plan.finished, plan.total) == (2, 6) and not plan.nothing_to_do


def test_the_finished_count_is_what_status_shows_even_when_tunes_state_lags(tmp_path):
    outcomes = {("rnn", 1): True, ("rnn", 2): False, ("gru", 1): None, ("gru", 2): True}
    experiment = make_experiment(tmp_path / "exp", SPEC, outcomes)
    # Tune's saved state still calls every trial pending (the window after a driver kill)
    trial_data = [
        [json.dumps({"trial_id": f"t{i}", "status": "PENDING", "relative_logdir": p.name}), "{}"]
        for i, p in enumerate(sorted(experiment.glob("*/params.json")))
    ]
    state = {"trial_data": trial_data}
    (experiment / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps(state))
    shown = status_counts(load_results(str(experiment)))
    assert prepare_resume(str(experiment)).finished == shown["TERMINATED"] == 3


def test_a_moved_experiment_plans_the_same_from_its_new_place(tmp_path):
    outcomes = {("rnn", 1): True, ("gru", 4): None}
    original = make_experiment(tmp_path / "a" / "exp", SPEC, outcomes)
    moved = tmp_path / "b" / "exp"
    shutil.copytree(original, moved)
    shutil.rmtree(original)
    plan = prepare_resume(str(moved))
    assert plan.plan.experiment == str(moved) and plan.plan.storage == str(tmp_path / "b")
    assert plan.finished == 1 and len(plan.plan.configs) == 5


def test_a_finished_grid_has_nothing_to_do(tmp_path):
    outcomes = {(a, g): True for a in ("rnn", "gru") for g in (1, 2, 4)}
    plan = prepare_resume(str(make_experiment(tmp_path / "exp", SPEC, outcomes)))
    assert plan.nothing_to_do and plan.finished == plan.total == 6


def test_a_frontier_walk_is_rebuilt_from_the_final_rows(tmp_path):
    spec = {**SPEC, "search": {"method": "frontier", "axis": "gap"}}
    # rnn: solved at 1, failed at 2 (decided); gru: solved at 1 and 2, 4 not yet run
    outcomes = {("rnn", 1): True, ("rnn", 2): False, ("gru", 1): True, ("gru", 2): True}
    plan = prepare_resume(str(make_experiment(tmp_path / "exp", spec, outcomes)))
    assert (plan.finished, plan.total) == (4, 4) and not plan.nothing_to_do
    suggested = plan.search.suggest()
    assert (suggested["arch"], suggested["gap"]) == ("gru", 4)
    plan.search.record(suggested, True)
    assert plan.search.finished


def test_other_threads_still_recognise_every_finished_trial(tmp_path):
    outcomes = {("rnn", 1): True, ("gru", 2): True}
    experiment = make_experiment(tmp_path / "exp", SPEC, outcomes)
    plan = prepare_resume(str(experiment), cpus_per_trial=2)
    assert len(plan.plan.configs) == 4 and {c["threads"] for c in plan.plan.configs} == {2}


def test_a_trial_asking_for_a_gpu_this_machine_lacks_is_refused_in_one_line(tmp_path):
    from gradsweep.sweep.resources import machine

    if machine()[1] >= 1:
        pytest.skip("this machine has a GPU")
    experiment = make_experiment(tmp_path / "exp", SPEC, {("rnn", 1): None}, gpus=1)
    with pytest.raises(ConfigError, match="--gpus-per-trial: 1 is not allowed") as err:
        prepare_resume(str(experiment))
    assert "\n" not in str(err.value)
    assert prepare_resume(str(experiment), gpus_per_trial=0).plan.gpus == 0


def test_an_experiment_of_the_trial_id_layout_is_readable_but_not_resumable(legacy):
    with pytest.raises(ConfigError, match="predates trial directories named by config"):
        prepare_resume(str(legacy))
    assert len(load_results(str(legacy)).trials) == 12


def test_a_directory_without_a_manifest_is_not_resumable(tmp_path):
    with pytest.raises(ConfigError, match="not a gradsweep experiment"):
        prepare_resume(str(tmp_path))


def test_resume_that_cannot_be_scheduled_here_exits_2_within_seconds(tmp_path, capsys):
    import time

    from gradsweep.cli import main
    from gradsweep.sweep.resources import machine

    if machine()[1] >= 1:
        pytest.skip("this machine has a GPU")
    experiment = make_experiment(tmp_path / "exp", SPEC, {("rnn", 1): None}, gpus=1)
    started = time.monotonic()
    assert main(["resume", str(experiment)]) == 2
    err = capsys.readouterr().err.strip()
    assert time.monotonic() - started < 10
    assert len(err.splitlines()) == 1 and "--gpus-per-trial: 1 is not allowed" in err
    assert "has 0 GPU" in err
