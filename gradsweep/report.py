"""A report of an experiment: figures, the frontier table, and findings computed from data.

Every sentence in the findings is built from the tables and cites its numbers; nothing is
pre-written. With too little data a finding says so instead of concluding.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gradsweep import analysis, plots
from gradsweep.analysis import axis_importance
from gradsweep.compare import Comparison, comparable_axes
from gradsweep.compare import compare as compare_settings
from gradsweep.config import INIT_FIELDS, format_value, group_label, model_label
from gradsweep.results import ResultSet

# The longest file-name component that ext4, XFS, APFS and NTFS take, in bytes.
NAME_MAX = 255


def fit_name(name: str, limit: int = NAME_MAX) -> str:
    """`name` where it fits one path component of `limit` bytes; else its longest prefix
    (whole UTF-8 characters) that leaves room for '-' and 12 hex digits of the name's
    SHA-256, so the same names always give the same directory and different names
    different ones."""
    raw = name.encode()
    if len(raw) <= limit:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:12]
    return raw[: limit - len(digest) - 1].decode(errors="ignore") + "-" + digest


def report_directory(results: ResultSet) -> Path:
    """Where a report goes unless told: `NAME/report` next to a local experiment's trials;
    `./reports/NAME` for a remote one; `./reports/A+B` for several (shortened by
    `fit_name` when the joined names are longer than a file name may be)."""
    if results.experiments:
        return Path("reports") / fit_name("+".join(results.experiments))
    if "://" in results.path:
        return Path("reports") / fit_name(Path(results.path.rstrip("/")).name)
    return Path(results.path) / "report"


@dataclass
class Report:
    """What `write_report` produced."""

    directory: str
    findings: list[str]
    frontier: pd.DataFrame
    figures: dict[str, list[str]] = field(default_factory=dict)
    written: str = ""  # when, and whether the sweep was still running then
    comparison: Comparison | None = None

    @property
    def partial(self) -> bool:
        return self.written.startswith("Partial")

    @property
    def html(self) -> str:
        return os.path.join(self.directory, "report.html")


def _name(arch: str, clip=None, hidden=None) -> str:
    return model_label(arch, clip, hidden)


def _fmt(value: float) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    if abs(value) < 0.01 or abs(value) >= 1e4:
        return f"{value:.1e}"
    return f"{value:.3g}"


def _samples(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value / 1000:.0f}k" if value >= 10_000 else f"{value:.0f}"


def counts_sentence(trials: pd.DataFrame, expected: int | None) -> str:
    """How many trials exist, finished, diverged, failed, are unfinished."""
    status = trials["status"]
    finished = int((status == "TERMINATED").sum())
    diverged = int(trials.loc[status == "TERMINATED", "diverged"].fillna(False).sum())
    failed = int((status == "ERROR").sum())
    unfinished = len(trials) - finished - failed + max(0, (expected or 0) - len(trials))
    text = f"{finished} of {max(expected or 0, len(trials))} trials finished"
    text += f" ({diverged} diverged)" if diverged else " (none diverged)"
    text += f", {failed} failed" if failed else ""
    text += f", {unfinished} not finished" if unfinished else ""
    return text + "."


def findings(trials: pd.DataFrame, expected: int | None = None) -> list[str]:
    """Sentences computed from the trial table, each citing the numbers it rests on."""
    out = [counts_sentence(trials, expected)]
    done = trials[trials["status"] == "TERMINATED"]
    if done.empty:
        out.append("No trial has finished, so there is nothing to compare yet.")
        return out
    x = analysis.dependency_axis(done)
    seeds = done.groupby(
        [c for c in ("arch", "clip_norm", "hidden", x) if c in done], dropna=False
    ).size()
    if seeds.max() < 2:
        out.append(
            "Each grid point ran with a single seed, so every difference below is one "
            "observation, not an estimate; add seeds before drawing conclusions."
        )
    out += _frontier_sentences(done, x)
    out += _baseline_sentences(done, x)
    out += _gradient_sentences(done, x)
    out += _clip_sentences(done)
    return out


def _frontier_sentences(done: pd.DataFrame, x: str) -> list[str]:
    table = analysis.frontier(done)
    group = analysis.frontier_groups(done)
    out = []
    ranked = []
    for _, row in table.iterrows():
        name = group_label({c: row[c] for c in group})
        model = _select(done, row, group)
        tested = int(row["tested_up_to"])
        if not row["monotone"]:
            out.append(
                f"{name} is not monotone in {x}: most seeds solved a level above the first "
                "one they failed, so its frontier below is a lower bound."
            )
        if pd.isna(row["frontier"]):
            best = model.groupby(x)["solved"].mean()
            out.append(
                f"{name} solved no {x} in most seeds (tested {x} {int(model[x].min())}–{tested}; "
                f"best share {best.max():.0%} at {x} {best.idxmax()})."
            )
            ranked.append((name, -1))
            continue
        frontier = int(row["frontier"])
        at = model[(model[x] == frontier) & model["solved"].fillna(False)]
        median = float(at["samples_to_solve"].astype("float64").median())
        tail = (
            f"; {x} {int(row['above'])} failed ({row['above_solved']}/{row['above_seeds']} "
            f"seeds solved), tested up to {tested}"
            if not pd.isna(row["above"])
            else " (the largest tested)"
        )
        out.append(
            f"{name} solved {x} {frontier} in {row['solved']}/{row['seeds']} seeds, "
            f"median {_samples(median)} training sequences to solve{tail}."
        )

        ranked.append((name, frontier))
    if len(ranked) > 1:
        ranked.sort(key=lambda item: item[1], reverse=True)
        order = ", ".join(f"{n} {f if f >= 0 else 'none'}" for n, f in ranked)
        out.append(
            f"Frontier by model (largest {x} below the first that most seeds failed): {order}."
        )
    return out


def _baseline_sentences(done: pd.DataFrame, x: str) -> list[str]:
    """Per model and level, the geometric-mean test loss with its 95% interval over seeds
    (log-t) against the task's no-learning loss (adding: always predicting 1; copy: the
    memoryless strategy): below or above it when the interval is, else at it."""
    out = []
    group = analysis.frontier_groups(done)
    for _, of_task in done.groupby("task", sort=False):
        first = analysis.baseline_of(of_task.iloc[0])
        if first is None or first.metric != "loss":
            continue  # a chance accuracy: the frontier sentences already speak to it
        for key, model in of_task.groupby(group, dropna=False, sort=False):
            key = key if isinstance(key, tuple) else (key,)
            name = group_label(dict(zip(group, key, strict=True)))
            parts = []
            for level, trials in model.groupby(x, sort=True):
                base = analysis.baseline_of(trials.iloc[0])
                losses = trials["test_loss"].astype("float64").to_numpy()
                losses = losses[np.isfinite(losses)]
                if len(losses) == 0:
                    parts.append(f"{x} {level}: no finite loss")
                    continue
                low, high = analysis.metric_interval(losses, "test_loss")
                loss = analysis.geometric_mean(losses)  # the centre of the log-t interval
                if len(losses) == 1:  # one seed: the point alone
                    low = high = loss
                mark = "below" if high < base.value else "above" if low > base.value else "at"
                shown = (
                    f"{loss:.3g} (one seed)"
                    if len(losses) == 1
                    else f"{loss:.3g} [{low:.3g}, {high:.3g}]"
                )
                parts.append(f"{x} {level}: {shown} ({mark} {base.value:.3g})")
            out.append(
                f"{name}: test loss, geometric mean [95% interval] over seeds, against the "
                f"baseline ({base.what}): " + "; ".join(parts) + "."
            )
    return out


def _select(done: pd.DataFrame, row: pd.Series, columns: list[str]) -> pd.DataFrame:
    """The trials of the model that `row` of the frontier table describes."""
    mask = np.ones(len(done), dtype=bool)
    for column in columns:
        mask &= analysis.equals(done[column], row[column])
    return done[mask]


def _gradient_sentences(done: pd.DataFrame, x: str) -> list[str]:
    out = []
    ratio = done["signal_grad_ratio_init"].replace([np.inf, -np.inf], np.nan)
    solved = done["solved"].fillna(False).astype(bool)
    if x == "gap" and ratio.notna().any() and solved.any() and (~solved).any():
        a, b = ratio[solved].median(), ratio[~solved].median()
        out.append(
            f"Before training, the gradient reaching the signal input was a median "
            f"{_fmt(a)} of the gradient at the last input in trials that went on to solve "
            f"their task ({int(solved.sum())}), against {_fmt(b)} in those that did not "
            f"({int((~solved).sum())})."
        )
    # The ratio before training depends only on the weights at init: one fit per setting
    # that shapes them (clipping, the learning rate or the optimizer cannot matter yet).
    shaping = [c for c in INIT_FIELDS if c == "arch" or analysis.swept(done, c)]
    for key, sub in done.groupby(shaping, dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        ratios = sub[[x, "signal_grad_ratio_init"]].dropna()
        ratios = ratios[ratios["signal_grad_ratio_init"] > 0]
        if x == "gap" and ratios[x].nunique() >= 3:
            slope = np.polyfit(
                ratios[x].astype(float), np.log10(ratios["signal_grad_ratio_init"]), 1
            )[0]
            name = group_label(dict(zip(shaping, key, strict=True)))
            out.append(
                f"For {name}, the initial signal-to-last gradient ratio changed by "
                f"{slope * 10:+.2f} orders of magnitude per 10 steps of gap "
                f"(least-squares fit over {len(ratios)} trials)."
            )
    peak = done.loc[done["grad_norm_max"].idxmax()] if done["grad_norm_max"].notna().any() else None
    if peak is not None:
        out.append(
            f"The largest pre-clip gradient norm in any step was {_fmt(peak['grad_norm_max'])} "
            f"({_name(peak['arch'])}, {x} {peak[x]}, seed {peak['seed']}); the median trial's "
            f"largest was {_fmt(done['grad_norm_max'].median())}."
        )
    return out


def _clip_sentences(done: pd.DataFrame) -> list[str]:
    if "clip_norm" not in done or done["clip_norm"].nunique(dropna=False) < 2:
        return []
    out = []
    for arch, sub in done.groupby("arch"):
        off = sub[sub["clip_norm"].isna()]
        for clip, on in sub[sub["clip_norm"].notna()].groupby("clip_norm"):
            if off.empty or on.empty:
                continue
            solved_on = int(on["solved"].fillna(False).sum())
            solved_off = int(off["solved"].fillna(False).sum())
            out.append(
                f"{_name(arch)}: clipping at {float(clip)!r} fired in "
                f"{on['clip_fraction'].mean():.0%} "
                f"of steps on average; solved {solved_on}/{len(on)} trials with it and "
                f"{solved_off}/{len(off)} without; mean test accuracy "
                f"{on['test_acc'].mean():.3f} against {off['test_acc'].mean():.3f}."
            )
    return out


FIGURES = [
    ("test_acc", "Test accuracy against dependency"),
    ("test_mse", "Test MSE against dependency (regression tasks)"),
    ("grad_norm_first", "Gradient norm in the first epoch"),
    ("grad_norm_max", "Largest gradient norm"),
    ("signal_grad_ratio_init", "Gradient reaching the signal, before training"),
    ("signal_grad_ratio", "Gradient reaching the signal, after training"),
]


def compared_axis(done: pd.DataFrame, axis: str | None) -> tuple[str | None, str | None]:
    """The axis a report compares, and a sentence saying why when it was chosen here: the
    one given, else the only swept setting other than arch, the dependency and the seed."""
    if axis is not None or done.empty:
        return axis, None
    candidates = comparable_axes(done)
    if len(candidates) != 1:
        return None, None
    return candidates[0], (
        f"The sweep varies one setting besides the architecture, the dependency and the seed "
        f"({candidates[0]}), so this report compares its values."
    )


def write_report(
    results: ResultSet, out_dir: str | os.PathLike, compare: str | None = None
) -> Report:
    """Figures (PNG and SVG), report.md and a self-contained report.html in `out_dir`.
    `compare` names a setting whose values are set against each other (`gradsweep.compare`);
    without it, a sweep that varies exactly one setting besides arch, the dependency and
    the seed is compared on that one."""
    out = Path(out_dir)
    trials, epochs = results.trials, results.epochs
    done = trials[trials["status"] == "TERMINATED"]
    axis, why = compared_axis(done, compare)
    comparison = compare_settings(done, axis) if axis else None  # bad axis: nothing written
    out.mkdir(parents=True, exist_ok=True)
    expected = results.expected_trials
    report = Report(str(out), findings(trials, expected), pd.DataFrame(), comparison=comparison)
    report.findings[1:1] = _experiment_sentences(results)
    report.written = _written_line(trials, expected)
    sections: list[tuple[str, str]] = []
    if comparison is not None:
        report.findings += ([why] if why else []) + comparison.findings
    if not done.empty:
        report.frontier = analysis.frontier(done)
        for metric, title in FIGURES:
            if done[metric].notna().any():
                report.figures[metric] = plots.save(plots.heatmap(done, metric), str(out / metric))
                sections.append((title, metric))
        ranked = axis_importance(done)
        report.findings += importance_sentences(ranked)
        figures = {
            "gradient_through_time": (
                plots.gradient_through_time(results.profiles, done, epoch=0),
                "Gradient through time, before training",
            ),
            "learning_curves": (plots.learning_curves(epochs, done), "Learning curves"),
            "frontier": (plots.frontier(done), "Trainability frontier"),
            "importance": (plots.importance(ranked), "Which axes matter"),
        }
        if axis is not None:
            figures |= {
                "compare_val_acc": (
                    plots.compare_curves(epochs, done, axis, "val_acc"),
                    f"Validation score by {axis}",
                ),
                "compare_profiles": (
                    plots.final_profiles(results.profiles, done, axis),
                    f"Gradient reaching each input after training, by {axis}",
                ),
            }
            if "clip_fraction" in epochs and done["clip_norm"].notna().any():
                figures["compare_clip_fraction"] = (
                    plots.compare_curves(epochs, done, axis, "clip_fraction"),
                    f"Share of steps clipped, by {axis}",
                )
        for stem, (fig, title) in figures.items():
            report.figures[stem] = plots.save(fig, str(out / stem))
            sections.append((title, stem))
    _write_text(out / "report.md", _markdown(results, report, sections))
    _write_text(out / "report.html", _html(results, report, sections))
    return report


def importance_sentences(ranked: pd.DataFrame) -> list[str]:
    """Which axes stand above the noise floor in out-of-sample importance, and which not."""
    if ranked.empty:
        return []
    floor = ranked[ranked["axis"].isin(["seed", "(noise)"])].iloc[0]
    above = ranked[ranked["above_floor"]]
    at = ranked[~ranked["above_floor"] & (ranked["axis"] != floor["axis"])]
    name = "the seed" if floor["axis"] == "seed" else "a column of random noise (one seed)"
    text = (
        f"Axis importance for test accuracy, on held-out folds, against {name} as the noise "
        f"floor ({floor['importance']:.3g}): "
    )
    text += (
        "above it: "
        + ", ".join(f"{a} {v:.3g}" for a, v in zip(above["axis"], above["importance"], strict=True))
        if not above.empty
        else "no axis stands above it"
    )
    if not at.empty:
        text += "; at it (indistinguishable from noise): " + ", ".join(at["axis"])
    return [text + "."]


def _experiment_sentences(results: ResultSet) -> list[str]:
    """For several experiments loaded together: the rows each gave, the repeats dropped."""
    if not results.experiments:
        return []
    rows = ", ".join(f"{name} {n}" for name, n in results.experiments.items())
    dropped = sum(results.duplicates.values())
    text = f"{len(results.experiments)} experiments, trials contributed: {rows}."
    if dropped:
        per = ", ".join(f"{name} {n}" for name, n in results.duplicates.items() if n)
        text += (
            f" {dropped} trial(s) repeated a config (seed included) of an earlier experiment "
            f"and were dropped, the first experiment's kept ({per})."
        )
    return [text]


def _written_line(trials: pd.DataFrame, expected: int | None) -> str:
    """When the report was written; 'Partial' while trials are still to finish."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    live = int(trials["status"].isin(["RUNNING", "PENDING", "PAUSED"]).sum())
    live += max(0, (expected or 0) - len(trials))
    if live:
        return f"Partial report, written {stamp} while {live} trial(s) had yet to finish."
    return f"Written {stamp}."


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _grid_lines(results: ResultSet) -> list[str]:
    spec = results.manifest.get("spec") or {}
    lines = [f"- {k}: {v}" for k, v in (spec.get("axes") or {}).items()]
    if spec.get("fixed"):
        lines.append(f"- fixed: {spec['fixed']}")
    if spec.get("budget"):
        lines.append(f"- budget: {spec['budget']}")
    return lines or ["- (no manifest: grid unknown)"]


def _cell(value) -> str:
    """A table cell: missing as '-', shares and intervals to 3 significant figures."""
    if isinstance(value, str):
        return value
    if pd.isna(value):
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}"
    return str(int(value)) if isinstance(value, float) else str(value)


def _frontier_markdown(frontier: pd.DataFrame) -> str:
    if frontier.empty:
        return "(no finished trials)"
    frame = frontier.copy()
    if "clip_norm" in frame:
        frame["clip_norm"] = frame["clip_norm"].map(lambda v: format_value("clip_norm", v))
    frame["frontier"] = frame["frontier"].map(lambda v: "none" if pd.isna(v) else str(int(v)))
    frame = frame.map(_cell)
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def comparison_table(comparison: Comparison) -> pd.DataFrame:
    """The comparison's levels as printed: counts, and differences with their intervals."""
    levels = comparison.levels
    if levels.empty:
        return pd.DataFrame()
    axis = comparison.axis
    keys = [c for c in levels.columns if c not in _COMPARISON_NUMBERS]
    frame = levels[keys].copy()
    frame[axis] = frame[axis].map(lambda v: format_value(axis, v))
    reference = format_value(axis, comparison.reference)
    frame[f"solved ({reference})"] = [
        f"{a}/{n}" for a, n in zip(levels["solved_ref"], levels["n_ref"], strict=True)
    ]
    frame["solved"] = [f"{a}/{n}" for a, n in zip(levels["solved"], levels["n"], strict=True)]
    for name, title in (
        ("solved_diff", "solved-rate difference"),
        ("test_acc_diff", "test acc (seed-matched)"),
        ("log10_signal_grad_ratio_diff", "log10 signal ratio (seed-matched)"),
    ):
        frame[title] = [
            _with_interval(m, lo, hi)
            for m, lo, hi in zip(
                levels[name], levels[f"{name}_low"], levels[f"{name}_high"], strict=True
            )
        ]
    return frame


_COMPARISON_NUMBERS = {
    "n_ref", "n", "solved_ref", "solved", "solved_diff", "solved_diff_low", "solved_diff_high",
    "pairs", "test_acc_diff", "test_acc_diff_low", "test_acc_diff_high", "samples_to_solve_diff",
    "samples_to_solve_diff_low", "samples_to_solve_diff_high", "log10_signal_grad_ratio_diff",
    "log10_signal_grad_ratio_diff_low", "log10_signal_grad_ratio_diff_high",
}  # fmt: skip


def _with_interval(mean: float, low: float, high: float) -> str:
    if pd.isna(mean):
        return "-"
    if pd.isna(low):
        return f"{mean:+.3g} (one seed)"
    return f"{mean:+.3g} [{low:+.3g}, {high:+.3g}]"


def _table_markdown(frame: pd.DataFrame) -> str:
    frame = frame.map(_cell)
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _comparison_section(report: Report) -> list[str]:
    if report.comparison is None:
        return []
    axis = report.comparison.axis
    table = comparison_table(report.comparison)
    return [
        f"## Comparing {axis}",
        "",
        "Each value against "
        f"{format_value(axis, report.comparison.reference)}: solved-rate difference with "
        "Newcombe's 95% interval; seed-matched differences with a 95% paired t-interval.",
        "",
        _table_markdown(table) if not table.empty else "(nothing to compare yet)",
        "",
    ]


def _title(results: ResultSet) -> str:
    return "+".join(results.experiments) if results.experiments else Path(results.path).name


def _markdown(results: ResultSet, report: Report, sections) -> str:
    name = _title(results)
    parts = [
        f"# gradsweep report: {name}",
        "",
        f"Experiment: `{results.path}`",
        "",
        f"*{report.written}*",
        "",
        "## Grid",
        "",
        *_grid_lines(results),
        "",
        "## Findings",
        "",
        *[f"- {s}" for s in report.findings],
        "",
        "## Trainability frontier",
        "",
        _frontier_markdown(report.frontier),
        "",
        *_comparison_section(report),
    ]
    for title, stem in sections:
        parts += [f"## {title}", "", f"![{title}]({stem}.png)", ""]
    return "\n".join(parts)


def _html(results: ResultSet, report: Report, sections) -> str:
    name = html.escape(_title(results))
    body = [
        f"<h1>gradsweep report: {name}</h1>",
        f"<p>Experiment: <code>{html.escape(results.path)}</code></p>",
        f"<p><em>{html.escape(report.written)}</em></p>",
        "<h2>Grid</h2><ul>",
        *[f"<li>{html.escape(line[2:])}</li>" for line in _grid_lines(results)],
        "</ul>",
        "<h2>Findings</h2><ul>",
        *[f"<li>{html.escape(s)}</li>" for s in report.findings],
        "</ul>",
        "<h2>Trainability frontier</h2>",
    ]
    frontier = report.frontier
    body.append(
        frontier.to_html(index=False, na_rep="-", float_format=lambda v: f"{v:.3g}")
        if not frontier.empty
        else "<p>none</p>"
    )
    if report.comparison is not None:
        table = comparison_table(report.comparison)
        body.append(f"<h2>Comparing {html.escape(report.comparison.axis)}</h2>")
        body.append(table.to_html(index=False, na_rep="-") if not table.empty else "<p>none</p>")
    for title, stem in sections:
        data = base64.b64encode(Path(report.directory, f"{stem}.png").read_bytes()).decode()
        body.append(
            f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" '
            f'src="data:image/png;base64,{data}">'
        )
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
        "line-height:1.45}img{max-width:100%}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>gradsweep: {name}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )
