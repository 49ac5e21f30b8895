import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from gradsweep import results as results_module
from gradsweep.cli import main
from gradsweep.results import aggregate, load_results, wilson_interval

pytestmark = pytest.mark.integration


def test_tables_are_tidy_and_typed(copy):
    rs = load_results(copy)
    trials = rs.trials
    assert len(trials) == 8 and trials["trial_id"].is_unique
    assert set(trials["status"]) == {"TERMINATED"}
    assert not any(c.startswith("config/") for c in trials.columns)
    assert str(trials["gap"].dtype) == "Int64" and str(trials["clip_norm"].dtype) == "Float64"
    assert str(trials["arch"].dtype) == "string" and str(trials["solved"].dtype) == "boolean"
    assert trials["clip_norm"].isna().sum() == 4  # NA, not the string "None"
    assert trials["node"].notna().all() and trials["test_acc"].between(0, 1).all()
    # epochs join back to trials, one row per epoch run
    epochs = rs.epochs
    assert set(epochs["trial_id"]) == set(trials["trial_id"])
    per_trial = epochs.groupby("trial_id").size()
    assert (per_trial == trials.set_index("trial_id")["epochs_run"].astype(int)).all()
    # profiles: one row per input position, for the init (epoch 0) and every epoch
    profiles = rs.profiles
    joined = profiles.merge(trials[["trial_id", "seq_len"]], on="trial_id")
    counts = joined.groupby(["trial_id", "epoch"]).size().reset_index(name="n")
    counts = counts.merge(trials[["trial_id", "seq_len"]], on="trial_id")
    assert (counts["n"] == counts["seq_len"].astype(int)).all()
    assert (joined["step_back"] == joined["seq_len"] - 1 - joined["position"]).all()
    assert set(profiles["epoch"]) >= {0, 1}


def test_second_load_uses_the_cache(copy, monkeypatch):
    first = load_results(copy)
    assert (copy / results_module.CACHE_DIR / "trials.parquet").exists()

    def no_rebuild(path):
        raise AssertionError("rebuilt although nothing changed")

    monkeypatch.setattr(results_module, "_build", no_rebuild)
    second = load_results(copy)
    pd.testing.assert_frame_equal(first.trials, second.trials)
    pd.testing.assert_frame_equal(first.epochs, second.epochs)
    pd.testing.assert_frame_equal(first.profiles, second.profiles)


def test_damaged_log_line_falls_back_to_line_by_line_parsing(copy):
    log_file = sorted(copy.glob("*/epochs.jsonl"))[0]
    lines = log_file.read_text().splitlines()
    log_file.write_text("\n".join(lines) + "\n" + lines[-1][:40])  # a line cut short
    rs = load_results(copy)
    assert len(rs.trials) == 8 and set(rs.trials["status"]) == {"TERMINATED"}
    assert len(rs.epochs) == rs.trials["epochs_run"].sum()


def test_columnar_and_line_by_line_readers_agree(copy):
    directories = results_module._trial_dirs(copy)
    statuses = results_module.read_statuses(copy)
    fast_trials, fast_epochs, fast_profiles = results_module._build_columnar(directories, statuses)
    slow_trials, slow_epochs, slow_profiles = results_module._build_rows(directories, statuses)
    pd.testing.assert_frame_equal(fast_trials, slow_trials)
    pd.testing.assert_frame_equal(fast_epochs, slow_epochs)
    pd.testing.assert_frame_equal(fast_profiles(), slow_profiles)


def test_copied_directory_loads_without_ray(copy, tmp_path):
    moved = tmp_path / "elsewhere" / "exp"
    shutil.copytree(copy, moved)
    code = (
        "import sys; from gradsweep import load_results; r = load_results(sys.argv[1]); "
        "assert 'ray' not in sys.modules; print(len(r.trials), len(r.epochs))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(moved)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "8" and int(out[1]) >= 8


def test_unfinished_trial_is_included_with_its_status(copy):
    trial = sorted(p for p in copy.iterdir() if (p / "params.json").exists())[0]
    lines = (trial / "epochs.jsonl").read_text().splitlines()
    (trial / "epochs.jsonl").write_text(lines[0] + "\n")  # as if killed after epoch 1
    for state in copy.glob("experiment_state-*.json"):
        state.unlink()  # no Tune state either: status inferred from the files
    trials = load_results(copy).trials.set_index("trial_id")
    assert trials.loc[trial.name, "status"] == "RUNNING"
    assert trials.loc[trial.name, "epochs_run"] == 1


def test_aggregate_keeps_unclipped_groups(copy):
    trials = load_results(copy).trials
    agg = aggregate(trials, ["arch", "clip_norm"])
    assert len(agg) == 4 and agg["clip_norm"].isna().sum() == 2
    assert (agg["n"] == 2).all()
    row = agg.iloc[0]
    assert row["test_acc_ci_low"] <= row["test_acc_mean"] <= row["test_acc_ci_high"]


def test_aggregate_numbers():
    frame = pd.DataFrame(
        {
            "arch": ["a"] * 4,
            "clip_norm": pd.array([None] * 4, dtype="Float64"),
            "test_acc": [0.5, 0.7, 0.9, 0.7],
            "solved": [True, False, True, True],
            "status": ["TERMINATED"] * 4,
        }
    )
    row = aggregate(frame, ["arch", "clip_norm"], metrics=["test_acc"]).iloc[0]
    assert row["test_acc_mean"] == pytest.approx(0.7)
    assert row["test_acc_std"] == pytest.approx(np.std([0.5, 0.7, 0.9, 0.7], ddof=1))
    # t(0.975, 3) = 3.182
    assert row["test_acc_ci_high"] - 0.7 == pytest.approx(3.182 * row["test_acc_std"] / 2, 1e-3)
    assert row["solved_rate"] == 0.75 and row["solved_count"] == 3


def test_wilson_interval():
    assert wilson_interval(0, 3) == (0.0, pytest.approx(0.5615, abs=1e-3))
    low, high = wilson_interval(3, 3)
    assert high == 1.0 and low == pytest.approx(0.4385, abs=1e-3)


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "parquet"])
def test_results_command_formats(experiment, tmp_path, fmt, capsys):
    target = tmp_path / f"trials.{fmt}"
    assert main(["results", str(experiment), "--format", fmt, "--out", str(target)]) == 0
    if fmt == "parquet":
        assert len(pd.read_parquet(target)) == 8
    elif fmt == "csv":
        assert len(pd.read_csv(target)) == 8
    elif fmt == "json":
        assert len(json.loads(target.read_text())) == 8
    else:
        assert target.read_text().count("TERMINATED") == 8


def test_results_command_errors(experiment, tmp_path, capsys):
    assert main(["results", str(experiment), "--format", "parquet"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["results", str(experiment), "--format", "xml"]) == 2
    assert main(["results", str(tmp_path / "missing")]) == 2
    assert main(["results", str(experiment), "--out", str(tmp_path / "no/dir/t.csv")]) == 2
    assert os.listdir(tmp_path) == []
