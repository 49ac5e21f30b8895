"""A report of an experiment: figures, the frontier table, and findings computed from data.

`write_report` builds one list of `Section`s (the grid, the findings, the frontier table,
the comparison, a section per figure) and renders that one list to `report.md` and to a
self-contained `report.html`. The sentences come from `findings`, the figures and their
order from `plots.for_report`; numbers in tables are written by `metrics.format_number`
and config values as the config was given (`config.format_value`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import numbers
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gradsweep import analysis, costs, findings, layout, plots
from gradsweep.compare import Comparison, comparable_axes
from gradsweep.compare import compare as compare_settings
from gradsweep.config import TABLE_FIELDS, format_value
from gradsweep.metrics import MATCHED, format_number
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
        return Path("reports") / fit_name(layout.name_of(results.path))
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
    costs: pd.DataFrame = field(default_factory=pd.DataFrame)  # `costs.by_level`

    @property
    def partial(self) -> bool:
        return self.written.startswith("Partial")

    @property
    def html(self) -> str:
        return os.path.join(self.directory, "report.html")


@dataclass
class Section:
    """One section of a report, rendered alike to Markdown and HTML: a paragraph, a
    bulleted list, a table of display strings (or `empty` when it has no rows), a figure
    (the stem of a PNG beside the report)."""

    title: str
    text: str = ""
    items: list[str] | None = None
    table: pd.DataFrame | None = None
    empty: str = "none"
    figure: str | None = None


def compared_axis(done: pd.DataFrame, axis: str | None) -> tuple[str | None, str | None]:
    """The axis a report compares, and a sentence saying why when it was chosen here: the
    one given, else the only swept setting other than arch, the dependency and the seed."""
    if axis is not None or done.empty:
        return axis, None
    candidates = comparable_axes(done)
    if len(candidates) != 1:
        return None, None
    return candidates[0], findings.compared_axis_sentence(candidates[0])


def write_report(
    results: ResultSet, out_dir: str | os.PathLike, compare: str | None = None
) -> Report:
    """Figures (PNG and SVG), report.md and a self-contained report.html in `out_dir`.
    `compare` names a setting whose values are set against each other (`gradsweep.compare`);
    without it, a sweep that varies exactly one setting besides arch, the dependency and
    the seed is compared on that one."""
    out = Path(out_dir)
    trials = results.trials
    done = analysis.finished(trials)
    axis, why = compared_axis(done, compare)
    comparison = compare_settings(done, axis) if axis else None  # bad axis: nothing written
    out.mkdir(parents=True, exist_ok=True)
    said = findings.of_trials(trials, results.expected_trials)
    said[1:1] = findings.of_experiments(results.experiments, results.duplicates)
    if comparison is not None:
        said += ([why] if why else []) + comparison.findings
    report = Report(str(out), said, pd.DataFrame(), comparison=comparison)
    report.written = _written_line(trials, results.expected_trials)
    report.costs = costs.by_level(trials, *costs.decision_rule(results.manifest))
    drawn: list[plots.Planned] = []
    if not done.empty:
        report.frontier = analysis.frontier(done)
        ranked = analysis.axis_importance(done)
        report.findings += findings.of_importance(ranked)
        tables = (done, results.epochs, results.profiles)
        for planned in plots.for_report(tables, ranked, axis):
            report.figures[planned.stem] = plots.save(planned.draw(), str(out / planned.stem))
            drawn.append(planned)
    sections = _sections(results, report, drawn)
    _write_text(out / "report.md", _markdown(results, report, sections))
    _write_text(out / "report.html", _html(results, report, sections))
    return report


def _sections(results: ResultSet, report: Report, figures: list[plots.Planned]) -> list:
    """The report's sections in order; both renderings draw this one list."""
    sections = [
        Section("Grid", items=_grid_lines(results)),
        Section("Findings", items=report.findings),
        Section(
            "Trainability frontier",
            table=frontier_table(report.frontier),
            empty="(no finished trials)",
        ),
    ]
    if report.comparison is not None:
        axis = report.comparison.axis
        sections.append(
            Section(
                f"Comparing {axis}",
                text=f"Each value against {format_value(axis, report.comparison.reference)}: "
                "solved-rate difference with Newcombe's 95% interval; seed-matched "
                "differences with a 95% paired t-interval.",
                table=comparison_table(report.comparison),
                empty="(nothing to compare yet)",
            )
        )
    sections += [Section(f.title, text=f.caption, figure=f.stem) for f in figures]
    if not report.costs.empty:
        sections.append(
            Section(
                "Where the time went",
                text=costs.summary_sentence(report.costs) or "",
                table=costs_table(report.costs),
            )
        )
    return sections


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
    lines = [f"{k}: {v}" for k, v in (spec.get("axes") or {}).items()]
    if spec.get("fixed"):
        lines.append(f"fixed: {spec['fixed']}")
    if spec.get("budget"):
        lines.append(f"budget: {spec['budget']}")
    return lines or ["(no manifest: grid unknown)"]


# --- tables as display strings --------------------------------------------------------------


def _cell(value) -> str:
    """A measured table cell: missing as '-', counts as integers, numbers by
    `format_number` (a share or interval bound to 3 significant figures)."""
    if isinstance(value, str):
        return value
    if pd.isna(value):
        return "-"
    if isinstance(value, bool | np.bool_ | numbers.Integral):
        return str(value)
    return format_number(value)


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as strings: config columns as the config was given (1.0 stays 1.0, no clip
    is 'off'), every other cell by `_cell`."""
    shown = frame.copy().astype(object)
    for column in shown.columns:
        if column in TABLE_FIELDS:
            shown[column] = [format_value(column, v) for v in frame[column]]
        else:
            shown[column] = [_cell(v) for v in frame[column]]
    return shown


def frontier_table(frontier: pd.DataFrame) -> pd.DataFrame:
    """The frontier table as printed: config values as given, no frontier as 'none'."""
    if frontier.empty:
        return frontier
    shown = _display(frontier)
    shown["frontier"] = ["none" if pd.isna(v) else str(int(v)) for v in frontier["frontier"]]
    return shown


def costs_table(table: pd.DataFrame) -> pd.DataFrame:
    """`costs.by_level` as printed: seconds as whole numbers."""
    shown = table.copy()
    for column in ("trial_s", "full_budget_s", "needed_s"):
        shown[column] = shown[column].round().astype(int)
    return _display(shown)


def _with_interval(mean: float, low: float, high: float) -> str:
    if pd.isna(mean):
        return "-"
    if pd.isna(low):
        return f"{mean:+.3g} (one seed)"
    return f"{mean:+.3g} [{low:+.3g}, {high:+.3g}]"


def comparison_table(comparison: Comparison) -> pd.DataFrame:
    """The comparison's levels as printed: the settings, solved counts, and each difference
    (the solved rate's, then every seed-matched metric's) with its 95% interval."""
    levels = comparison.levels
    if levels.empty:
        return pd.DataFrame()
    keys = [c for c in levels.columns if c in TABLE_FIELDS]
    frame = _display(levels[keys])
    reference = format_value(comparison.axis, comparison.reference)
    frame[f"solved ({reference})"] = [
        f"{a}/{n}" for a, n in zip(levels["solved_ref"], levels["n_ref"], strict=True)
    ]
    frame["solved"] = [f"{a}/{n}" for a, n in zip(levels["solved"], levels["n"], strict=True)]
    differences = [("solved", "solved-rate difference")]
    differences += [(m.compared, m.compared_title) for m in MATCHED]
    for name, title in differences:
        frame[title] = [
            _with_interval(*values)
            for values in zip(
                levels[f"{name}_diff"], levels[f"{name}_diff_low"], levels[f"{name}_diff_high"],
                strict=True,
            )
        ]  # fmt: skip
    return frame


# --- the two renderings -----------------------------------------------------------------------


def _title(results: ResultSet) -> str:
    return "+".join(results.experiments) if results.experiments else layout.name_of(results.path)


def _table_markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _markdown(results: ResultSet, report: Report, sections: list[Section]) -> str:
    parts = [
        f"# gradsweep report: {_title(results)}",
        "",
        f"Experiment: `{results.path}`",
        "",
        f"*{report.written}*",
        "",
    ]
    for section in sections:
        parts += [f"## {section.title}", ""]
        if section.text:
            parts += [section.text, ""]
        if section.items is not None:
            parts += [*(f"- {item}" for item in section.items), ""]
        if section.table is not None:
            table = section.table
            parts += [_table_markdown(table) if not table.empty else section.empty, ""]
        if section.figure:
            parts += [f"![{section.title}]({section.figure}.png)", ""]
    return "\n".join(parts)


def _html_section(section: Section, directory: str) -> list[str]:
    title = html.escape(section.title)
    body = [f"<h2>{title}</h2>"]
    if section.text:
        body.append(f"<p>{html.escape(section.text)}</p>")
    if section.items is not None:
        body += ["<ul>", *(f"<li>{html.escape(item)}</li>" for item in section.items), "</ul>"]
    if section.table is not None:
        table = section.table
        empty = f"<p>{html.escape(section.empty)}</p>"
        body.append(table.to_html(index=False) if not table.empty else empty)
    if section.figure:
        data = base64.b64encode(Path(directory, f"{section.figure}.png").read_bytes()).decode()
        body.append(f'<img alt="{title}" src="data:image/png;base64,{data}">')
    return body


def _html(results: ResultSet, report: Report, sections: list[Section]) -> str:
    name = html.escape(_title(results))
    body = [
        f"<h1>gradsweep report: {name}</h1>",
        f"<p>Experiment: <code>{html.escape(results.path)}</code></p>",
        f"<p><em>{html.escape(report.written)}</em></p>",
    ]
    for section in sections:
        body += _html_section(section, report.directory)
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
        "line-height:1.45}img{max-width:100%}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>gradsweep: {name}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )
