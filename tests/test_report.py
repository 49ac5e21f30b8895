import numpy as np
import pandas as pd
import pytest

from gradsweep.findings import of_trials as findings
from gradsweep.report import write_report
from gradsweep.results import ResultSet, load_results
from tests.synthetic import trial_tables


def test_findings_are_computed_from_the_data():
    a, _, _ = trial_tables(frontier={"rnn": 10, "lstm": 40, "gru": 20})
    b, _, _ = trial_tables(frontier={"rnn": 5, "lstm": 20, "gru": 40})
    fa, fb = findings(a), findings(b)
    assert fa != fb
    assert any("LSTM · clip off solved gap 40 in 3/3 seeds" in s for s in fa)
    assert any("GRU · clip off solved gap 40 in 3/3 seeds" in s for s in fb)
    assert any(s.startswith("Frontier by model") and "LSTM · clip off 40" in s for s in fa)
    assert fa[0] == "72 of 72 trials finished (none diverged)."


def test_too_little_data_is_said():
    one_seed, _, _ = trial_tables(seeds=(0,))
    assert any("single seed" in s for s in findings(one_seed))
    nothing = one_seed.assign(status="RUNNING")
    assert findings(nothing)[-1].startswith("No trial has finished")


def test_no_model_solving_is_reported_as_such():
    trials, _, _ = trial_tables(frontier={"rnn": 0, "lstm": 0, "gru": 0})
    sentences = findings(trials)
    assert any("SimpleRNN · clip off solved no gap in most seeds" in s for s in sentences)


@pytest.mark.slow  # writes a whole report, comparison included: about 8 s
def test_report_from_synthetic_tables(tmp_path):
    trials, epochs, profiles = trial_tables()
    rs = ResultSet("synthetic", trials, epochs, _profiles=profiles, manifest={"trials": 72})
    report = write_report(rs, tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and 'src="http' not in html
    md = (tmp_path / "report.md").read_text()
    for sentence in report.findings:
        assert sentence in md
    assert {"test_acc", "gradient_through_time", "frontier", "importance"} <= set(report.figures)


@pytest.mark.slow  # writes a whole report: about 4 s
def test_report_command_on_a_real_sweep(legacy, tmp_path, capsys):
    from gradsweep.cli import main

    assert main(["report", str(legacy), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out and "8 of 12 trials finished (none diverged), 4 failed." in out
    assert (tmp_path / "rep" / "test_acc.svg").exists()
    assert main(["report", str(legacy), "--out", str(tmp_path / "no" / "such" / "dir")]) == 2
    assert len(load_results(legacy).trials) == 12


@pytest.mark.slow  # writes a whole report, comparison included: about 8 s
def test_a_report_of_a_running_sweep_says_it_is_partial(tmp_path):
    trials, epochs, profiles = trial_tables(seeds=(0,))
    trials.loc[trials.index[:2], "status"] = "RUNNING"
    rs = ResultSet("running", trials, epochs, _profiles=profiles, manifest={"trials": 30})
    report = write_report(rs, tmp_path / "partial")
    assert report.partial and "while 8 trial(s) had yet to finish" in report.written
    assert report.written in (tmp_path / "partial" / "report.md").read_text()
    assert "Partial report" in (tmp_path / "partial" / "report.html").read_text()
    from gradsweep.report import _written_line

    assert _written_line(trials.assign(status="TERMINATED"), 24).startswith("Written ")
    assert _written_line(trials.assign(status="TERMINATED"), 30).startswith("Partial")


def test_findings_compare_the_test_loss_with_the_tasks_baseline():
    trials = trial_tables(clips=(None,))[0]
    trials["task"], trials["gap"] = "adding", pd.NA
    noise = np.random.default_rng(0).normal(0, 0.002, len(trials))
    trials["test_loss"] = np.where(trials["arch"] == "rnn", 0.1, 0.2) + noise
    lines = [line for line in findings(trials) if "baseline" in line]
    assert len(lines) == 3  # one per model
    rnn = next(line for line in lines if line.startswith("SimpleRNN"))
    lstm = next(line for line in lines if line.startswith("LSTM"))
    assert "always predicting 1" in rnn and rnn.count("(below 0.167)") == 4
    assert lstm.count("(above 0.167)") == 4 and "seq_len 50: 0.2" in lstm
    trials.loc[trials["arch"] == "gru", "test_loss"] = [0.1, 0.25, 0.16] * 4  # spans 1/6
    gru = next(line for line in findings(trials) if line.startswith("GRU") and "baseline" in line)
    assert gru.count("(at 0.167)") == 4


@pytest.mark.slow  # writes a whole report: about 8 s
def test_a_sweep_of_one_setting_is_compared_on_it(tmp_path):
    trials, epochs, profiles = trial_tables()  # clip_norm is the only setting swept
    epochs["clip_fraction"] = np.where(epochs["trial_id"].isin(
        trials.loc[trials["clip_norm"].notna(), "trial_id"]), 0.3, 0.0)  # fmt: skip
    rs = ResultSet("synthetic", trials, epochs, _profiles=profiles)
    report = write_report(rs, tmp_path)
    assert report.comparison is not None and report.comparison.axis == "clip_norm"
    assert any("varies one setting" in s and "(clip_norm)" in s for s in report.findings)
    assert {"compare_val_acc", "compare_profiles", "compare_clip_fraction"} <= set(report.figures)
    md = (tmp_path / "report.md").read_text()
    assert "## Comparing clip_norm" in md and "| solved (off) |" in md


def test_a_bad_compare_axis_is_one_line_and_writes_nothing(tmp_path, capsys, legacy):
    from gradsweep.cli import main

    target = tmp_path / "rep"
    assert main(["report", str(legacy), "--out", str(target), "--compare", "gap"]) == 2
    assert "compare: 'gap' is not allowed" in capsys.readouterr().err
    assert not target.exists()


@pytest.mark.slow  # writes a whole report: about 6 s
def test_two_experiments_with_overlapping_configs_are_reported_together(legacy, tmp_path):
    import shutil

    first = tmp_path / "first"
    shutil.copytree(legacy, first)
    kept = sorted(p for p in first.iterdir() if (p / "params.json").exists())
    for directory in kept[6:]:  # the first ran half of the configs; the second ran all
        shutil.rmtree(directory)
    combined = load_results([first, legacy])
    assert combined.experiments == {"first": 6, legacy.name: 6}
    assert combined.duplicates == {"first": 0, legacy.name: 6}
    assert len(combined.trials) == 12 and combined.trials["experiment"].notna().all()
    configs = combined.trials.drop(columns=["trial_id", "experiment", "status"]).iloc[:, :20]
    assert not configs.duplicated().any()
    assert set(combined.epochs["trial_id"]) <= set(combined.trials["trial_id"])
    report = write_report(combined, tmp_path / "rep")
    md = (tmp_path / "rep" / "report.md").read_text()
    line = next(s for s in report.findings if s.startswith("2 experiments"))
    assert f"first 6, {legacy.name} 6" in line and "6 trial(s) repeated" in line
    assert line in md and md.startswith(f"# gradsweep report: first+{legacy.name}")


def test_importance_is_said_against_the_seeds_noise_floor():
    from gradsweep.analysis import axis_importance
    from gradsweep.findings import of_importance as importance_sentences

    trials, _, _ = trial_tables(frontier={"rnn": 40, "lstm": 40, "gru": 40}, gaps=(5, 10, 80))
    (line,) = importance_sentences(axis_importance(trials))
    assert "against the seed as the noise floor" in line
    assert "above it: gap" in line and "at it (indistinguishable from noise): " in line
    assert line.endswith("arch, clip_norm.") or line.endswith("clip_norm, arch.")
