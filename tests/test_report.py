"""The report: its tables hold the numbers of the analysis, written as the config was
given; both renderings carry every section; a partial sweep says so."""

from html import escape as html_escape

import numpy as np
import pandas as pd
import pytest

from gradsweep.analysis import frontier
from gradsweep.compare import compare, newcombe_interval
from gradsweep.report import comparison_table, frontier_table, write_report
from gradsweep.results import ResultSet, load_results
from tests.helpers import trial_tables


@pytest.mark.slow  # writes a whole report, comparison included: about 8 s
def test_report_from_synthetic_tables(tmp_path):
    trials, epochs, profiles = trial_tables()
    rs = ResultSet("synthetic", trials, epochs, _profiles=profiles, manifest={"trials": 72})
    report = write_report(rs, tmp_path)
    fronts = report.frontier.set_index(["arch", "clip_norm"])["frontier"]
    assert fronts.groupby(level="arch").unique().map(list).to_dict() == {
        "rnn": [10], "lstm": [40], "gru": [20]
    }  # fmt: skip
    assert (report.frontier["solved"] == 3).all() and (report.frontier["seeds"] == 3).all()
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and 'src="http' not in html
    md = (tmp_path / "report.md").read_text()
    for sentence in report.findings:
        assert sentence in md and html_escape(sentence) in html
    assert {"test_acc", "gradient_through_time", "frontier", "importance"} <= set(report.figures)
    for stem in report.figures:  # every figure has its section in both renderings
        assert f"]({stem}.png)" in md
    assert md.count("\n## ") == html.count("<h2>")
    assert "## Where the time went" in md and "The 72 finished trials used 72 trial-seconds" in md


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


def test_the_frontier_table_writes_config_values_as_the_config_gave_them():
    trials = trial_tables(archs=("lstm",), clips=(None,))[0]
    wide = trials.assign(forget_bias=5.0, trial_id=trials["trial_id"] + "b")
    both = pd.concat([trials, wide], ignore_index=True)
    both["forget_bias"] = both["forget_bias"].astype("Float64")
    shown = frontier_table(frontier(both))
    assert shown["forget_bias"].tolist() == ["1.0", "5.0"]  # not 1 and 5
    assert shown["frontier"].tolist() == ["40", "40"] and shown["seeds"].tolist() == ["3", "3"]


def test_fit_name_keeps_names_that_fit_and_shortens_the_rest_deterministically():
    from gradsweep.report import NAME_MAX, fit_name

    assert fit_name("a" * 255) == "a" * 255
    long_a, long_b = "a" * 128 + "+" + "b" * 128, "a" * 128 + "+" + "c" * 128
    fitted = fit_name(long_a)
    assert len(fitted.encode()) == NAME_MAX and fitted == fit_name(long_a)
    assert fitted.startswith("a" * 128 + "+b") and fitted != fit_name(long_b)
    wide = fit_name("é" * 200)  # 400 bytes: cut at a whole character
    assert len(wide.encode()) <= NAME_MAX and wide.startswith("é" * 121)


def test_the_report_of_two_long_names_goes_to_a_directory_that_fits():
    from gradsweep.report import NAME_MAX, report_directory

    names = {"a" * 128: 6, "b" * 128: 6}  # the longest names launch allows
    directory = report_directory(ResultSet("x", pd.DataFrame(), pd.DataFrame(), experiments=names))
    assert directory.parent.name == "reports" and len(directory.name.encode()) <= NAME_MAX
    short = report_directory(
        ResultSet("x", pd.DataFrame(), pd.DataFrame(), experiments={"a": 1, "b": 1})
    )
    assert short.name == "a+b"


@pytest.mark.slow  # writes a whole report: about 6 s
def test_report_of_two_experiments_with_128_byte_names(legacy, tmp_path, monkeypatch, capsys):
    import shutil

    from gradsweep.cli import main

    for letter in "ab":
        shutil.copytree(legacy, tmp_path / (letter * 128))
    monkeypatch.chdir(tmp_path)
    assert main(["report", "a" * 128, "b" * 128, "--storage", str(tmp_path)]) == 0
    (written,) = (tmp_path / "reports").iterdir()
    assert len(written.name.encode()) <= 255 and (written / "report.html").exists()
    assert written.name.startswith("a" * 128 + "+") and written.name in capsys.readouterr().out


def test_an_os_error_on_a_users_path_is_one_line_naming_it(legacy, tmp_path, capsys):
    from gradsweep.cli import main

    too_long = tmp_path / ("x" * 300)
    assert main(["report", str(legacy), "--out", str(too_long)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {str(too_long)!r}: File name too long")
    assert len(err.strip().splitlines()) == 1
    assert main(["results", str(too_long)]) == 2
    assert "File name too long" in capsys.readouterr().err


def test_the_comparison_table_holds_the_counts_and_the_differences():
    trials = trial_tables()[0]
    lifted = (trials["arch"] == "rnn") & (trials["clip_norm"] == 1.0) & trials["gap"].isin([20, 40])
    trials.loc[lifted, ["solved", "test_acc", "samples_to_solve"]] = [True, 0.99, 2000]
    table = comparison_table(compare(trials, "clip_norm"))
    row = table[(table["arch"] == "rnn") & (table["gap"] == "20")].iloc[0]
    assert (row["clip_norm"], row["solved (off)"], row["solved"]) == ("1.0", "0/3", "3/3")
    low, high = newcombe_interval(0, 3, 3, 3)
    assert row["solved-rate difference"] == f"+1 [{low:+.3g}, {high:+.3g}]"
    off = trials[(trials["arch"] == "rnn") & (trials["gap"] == 20) & trials["clip_norm"].isna()]
    diff = 0.99 - off.sort_values("seed")["test_acc"].to_numpy()
    assert row["test acc (seed-matched)"].startswith(f"{diff.mean():+.3g} [")
    assert row["samples to solve (seed-matched)"] == "-"  # no seed solved without clipping
