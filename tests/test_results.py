"""The results reader on a real experiment directory (no Ray): tables, cache, damaged logs."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from gradsweep import results as results_module
from gradsweep.cli import main
from gradsweep.config import TABLE_FIELDS
from gradsweep.layout import CACHE_DIR, EXPERIMENT_STATE_PREFIX
from gradsweep.records import SUMMARY_FIELDS
from gradsweep.results import load_results, status_counts


def lines_of(trial_dir):
    path = trial_dir / "epochs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def trial_dirs(experiment):
    return sorted(p.parent for p in experiment.glob("*/params.json"))


def test_tables_are_tidy_and_typed(legacy):
    rs = load_results(legacy)
    trials = rs.trials
    assert list(trials.columns) == ["trial_id", "status", *TABLE_FIELDS, *SUMMARY_FIELDS, "node"]
    assert len(trials) == 12 and trials["trial_id"].is_unique
    assert trials["status"].value_counts().to_dict() == {"TERMINATED": 8, "ERROR": 4}
    assert set(trials.loc[trials["status"] == "ERROR", "gap"]) == {5}
    assert str(trials["gap"].dtype) == "Int64" and str(trials["clip_norm"].dtype) == "Float64"
    assert str(trials["arch"].dtype) == "string" and str(trials["solved"].dtype) == "boolean"
    assert str(trials["epochs_run"].dtype) == "Int64"
    assert trials["clip_norm"].isna().sum() == 6  # NA, not the string "None"
    done = trials[trials["status"] == "TERMINATED"]
    assert done["node"].notna().all() and done["test_acc"].between(0, 1).all()
    # failed before training: no epochs, no metrics, but the row and its config are there
    failed = trials[trials["status"] == "ERROR"]
    assert failed["epochs_run"].isna().all() and failed["test_acc"].isna().all()


def test_tables_hold_what_the_logs_say(legacy):
    """Every number in the tables is the one in the trial's own log, read here with json."""
    rs = load_results(legacy)
    trials = rs.trials.set_index("trial_id")
    epochs = rs.epochs.set_index(["trial_id", "epoch"])
    profiles = rs.profiles.set_index(["trial_id", "epoch", "position"])["grad"]
    seen = 0
    for directory in trial_dirs(legacy):
        for line in lines_of(directory):
            key = (directory.name, line["epoch"])
            for column in ("samples_seen", "train_loss", "val_acc", "grad_norm_max"):
                assert epochs.loc[key, column] == line[column]
            for position, grad in enumerate(line["grad_profile"]):
                assert profiles.loc[(*key, position)] == grad
            seen += 1
            final = line.get("final")
            if final:
                row = trials.loc[directory.name]
                for name in SUMMARY_FIELDS:
                    expected = final.get(name)  # fields added since are missing: NA
                    assert (pd.isna(row[name]) and expected is None) or row[name] == expected
                for position, grad in enumerate(final["grad_profile_init"]):
                    assert profiles.loc[(directory.name, 0, position)] == grad
    assert seen == len(rs.epochs) == 24


def test_second_load_uses_the_cache(legacy, monkeypatch):
    first = load_results(legacy)
    first_profiles = first.profiles
    assert (legacy / CACHE_DIR / "trials.parquet").exists()

    def no_rebuild(path):
        raise AssertionError("rebuilt although nothing changed")

    monkeypatch.setattr(results_module, "_build", no_rebuild)
    second = load_results(legacy)
    pd.testing.assert_frame_equal(first.trials, second.trials)
    pd.testing.assert_frame_equal(first.epochs, second.epochs)
    pd.testing.assert_frame_equal(first_profiles, second.profiles)


def test_torn_last_line_is_left_out(legacy):
    directory = trial_dirs(legacy)[0]
    text = (directory / "epochs.jsonl").read_text()
    (directory / "epochs.jsonl").write_text(text + text.splitlines()[-1][:40])  # killed mid-write
    rs = load_results(legacy)
    assert rs.trials.set_index("trial_id").loc[directory.name, "epochs_run"] == 3
    assert len(rs.epochs) == 24


def test_damaged_line_in_the_middle_keeps_the_lines_before_it(legacy):
    directory = trial_dirs(legacy)[0]
    lines = (directory / "epochs.jsonl").read_text().splitlines()
    lines[1] = lines[1][:30] + "#garbage"
    (directory / "epochs.jsonl").write_text("\n".join(lines) + "\n")
    rs = load_results(legacy)
    assert list(rs.epochs.loc[rs.epochs["trial_id"] == directory.name, "epoch"]) == [1]
    assert len(rs.epochs) == 24 - 2  # the other trials are untouched


def test_unfinished_trial_is_summarised_from_its_epochs(legacy):
    directory = trial_dirs(legacy)[0]
    lines = (directory / "epochs.jsonl").read_text().splitlines()
    (directory / "epochs.jsonl").write_text("\n".join(lines[:2]) + "\n")  # killed after epoch 2
    for state in legacy.glob(f"{EXPERIMENT_STATE_PREFIX}*"):
        state.unlink()  # no Tune state either: statuses inferred from the files
    trials = load_results(legacy).trials.set_index("trial_id")
    row = trials.loc[directory.name]
    kept = [json.loads(line) for line in lines[:2]]
    assert row["status"] == "RUNNING"
    assert row["epochs_run"] == 2 and row["samples_seen"] == kept[1]["samples_seen"]
    assert row["best_val_acc"] == max(e["val_acc"] for e in kept)
    assert row["grad_norm_mean"] == pytest.approx(np.mean([e["grad_norm_mean"] for e in kept]))
    assert row["grad_norm_max"] == max(e["grad_norm_max"] for e in kept)
    assert row["grad_norm_first"] == kept[0]["grad_norm_mean"]
    assert pd.isna(row["test_acc"]) and pd.isna(row["solved"])
    # the others: finished ones from their final line, failed ones from their error file
    assert trials["status"].value_counts().to_dict() == {"TERMINATED": 7, "ERROR": 4, "RUNNING": 1}


def test_an_epoch_reported_twice_counts_once_with_its_last_report(legacy):
    """A trial resumed from its epoch-1 state reports epoch 2 again."""
    directory = trial_dirs(legacy)[0]
    lines = (directory / "epochs.jsonl").read_text().splitlines()
    again = json.loads(lines[1]) | {"val_acc": 0.123}
    rewritten = [*lines[:2], json.dumps(again), *lines[2:]]
    (directory / "epochs.jsonl").write_text("\n".join(rewritten) + "\n")
    epochs = load_results(legacy).epochs
    mine = epochs[epochs["trial_id"] == directory.name]
    assert list(mine["epoch"]) == [1, 2, 3] and mine["val_acc"].iloc[1] == 0.123


def test_copied_directory_loads_without_ray_or_tensorflow(legacy):
    code = (
        "import sys; from gradsweep import load_results; r = load_results(sys.argv[1]); "
        "assert 'ray' not in sys.modules and 'tensorflow' not in sys.modules; "
        "print(len(r.trials), len(r.epochs))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(legacy)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["12", "24"]


def test_status_counts_include_points_not_started(legacy):
    rs = load_results(legacy)
    assert status_counts(rs) == {"TERMINATED": 8, "ERROR": 4}
    rs.manifest["trials"] = 15
    assert status_counts(rs) == {"TERMINATED": 8, "ERROR": 4, "PENDING": 3}
    rs.manifest["spec"]["search"] = {"method": "frontier"}  # a walk skips points on purpose
    assert status_counts(rs) == {"TERMINATED": 8, "ERROR": 4} and rs.expected_trials is None


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "parquet"])
def test_results_command_formats(legacy, tmp_path, fmt):
    target = tmp_path / f"trials.{fmt}"
    assert main(["results", str(legacy), "--format", fmt, "--out", str(target)]) == 0
    if fmt == "parquet":
        assert len(pd.read_parquet(target)) == 12
    elif fmt == "csv":
        assert len(pd.read_csv(target)) == 12
    elif fmt == "json":
        assert len(json.loads(target.read_text())) == 12
    else:
        assert target.read_text().count("TERMINATED") == 8


def test_results_command_errors(legacy, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    assert main(["results", str(legacy), "--format", "parquet"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["results", str(legacy), "--format", "xml"]) == 2
    assert main(["results", str(tmp_path / "missing")]) == 2
    assert main(["results", str(legacy), "--out", str(out / "no/dir/t.csv")]) == 2
    assert os.listdir(out) == []


def test_blank_lines_in_a_log_are_skipped(legacy):
    directory = trial_dirs(legacy)[0]
    lines = (directory / "epochs.jsonl").read_text().splitlines()
    (directory / "epochs.jsonl").write_text("\n" + "\n\n".join(lines) + "\n")
    rs = load_results(legacy)
    assert len(rs.epochs) == 24
    assert rs.trials.set_index("trial_id").loc[directory.name, "epochs_run"] == 3


def test_own_records_outrank_a_lagging_tune_state(legacy):
    """Tune's state file lags by seconds: it may still call finished trials pending."""
    state_file = sorted(legacy.glob(f"{EXPERIMENT_STATE_PREFIX}*"))[-1]
    state = json.loads(state_file.read_text())
    for entry in state["trial_data"]:
        trial = json.loads(entry[0])
        trial["status"] = "PENDING"
        entry[0] = json.dumps(trial)
    state_file.write_text(json.dumps(state))
    trials = load_results(legacy).trials
    # finished ones have their final row; the failed ones have an error file: a retry
    # waits, says Tune
    assert trials["status"].value_counts().to_dict() == {"TERMINATED": 8, "PENDING": 4}


def test_an_experiment_before_its_first_trial_starts_loads_as_all_pending(legacy):
    """The first seconds of a sweep: the manifest is written, no trial has its params.json
    yet (`watch` and `status` read this; it was an ArrowTypeError, exit 1)."""
    for state in legacy.glob(f"{EXPERIMENT_STATE_PREFIX}*"):
        state.unlink()
    for params in legacy.glob("*/params.json"):
        params.unlink()
    loaded = load_results(legacy)
    assert status_counts(loaded) == {"PENDING": 12} and loaded.trials.empty
