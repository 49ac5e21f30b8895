"""How `gradsweep watch` draws a `watch.Snapshot`: rich renderables that fit the terminal.

A row is never folded over several lines: a grid of levels too wide for the terminal is
split by level into several tables, and the running trials' table leaves out its least
needed columns, then cuts the model's name short. Off a terminal the console is as wide as
the tables (`gradsweep.console`), so nothing is left out there.
"""

from __future__ import annotations

import pandas as pd
from rich import box
from rich.console import Console
from rich.table import Table

from gradsweep.console import NATURAL_WIDTH
from gradsweep.metrics import format_number
from gradsweep.watch import Snapshot

MIN_MODEL_WIDTH = 12  # "SimpleRNN ·…": the arch stays legible


def frame_parts(view: Snapshot, path: str, console: Console) -> list:
    """The renderables of one frame of `view` (of the experiment at `path`), in order; its
    tables fit `console`'s width (`_fitted`)."""
    counts = ", ".join(f"{n} {s.lower()}" for s, n in view.counts.items()) or "no trial yet"
    parts: list = [f"[bold]{path}[/]: {counts}"]
    if not view.grid.empty:
        parts += _grid_tables(view, console)
    for _, row in view.frontier.iterrows():
        level = "none yet" if pd.isna(row["frontier"]) else f"{view.axis} {row['frontier']}"
        parts.append(f"frontier so far: {row['model']}: {level}")
    if not view.running.empty:
        rows = [
            [format_number(v, missing="-") if isinstance(v, float) else str(v) for v in row]
            for row in view.running.itertuples(index=False)
        ]
        # The model, level and seed tell a running trial apart: its directory's name is
        # the first to go, then its epoch budget.
        columns = list(view.running.columns)
        parts.append(_fitted(console, "running", columns, rows, droppable=["trial_id", "of"]))
    return parts


def _grid_tables(view: Snapshot, console: Console) -> list[Table]:
    """Best validation accuracy by model and level, split by level into as few tables as
    fit the console, each led by the model (whose name is cut short only where one level
    a table would not fit): numbers are never cut, rows never folded."""
    levels = [str(level) for level in view.grid.columns]
    rows = [[str(model), *row.tolist()] for model, row in view.grid.iterrows()]
    title = f"best validation accuracy by {view.axis} (mean over seeds)"
    for cut in (False, True):
        for per in range(len(levels), 0, -1):
            tables = [
                _fitted(
                    console,
                    title if start == 0 else None,
                    ["model", *levels[start : start + per]],
                    [[row[0], *row[1 + start : 1 + start + per]] for row in rows],
                    droppable=[],
                    cut=cut,
                )
                for start in range(0, len(levels), per)
            ]
            if all(_natural_width(console, table) <= console.width for table in tables):
                return tables
    return tables


def _natural_width(console: Console, table: Table) -> int:
    # measure() is capped at the width of the options it is given
    return console.measure(table, options=console.options.update_width(NATURAL_WIDTH)).maximum


def _fitted(
    console: Console,
    title: str | None,
    columns: list[str],
    rows: list[list[str]],
    droppable: list[str],
    cut: bool = True,
) -> Table:
    """A table of `rows` that fits the console if it can: the `droppable` columns left out,
    in that order, while it is wider; if it still is, with `cut`, the model's name cut short
    with an ellipsis. No row is folded over several lines."""
    keep = list(range(len(columns)))
    for name in [None, *droppable]:
        if name is not None:
            keep.remove(columns.index(name))
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        for k in keep:
            left = columns[k] in ("model", "trial_id")
            widest = max(len(row[k]) for row in [columns, *rows])  # numbers are never cut
            table.add_column(
                columns[k],
                justify="left" if left else "right",
                no_wrap=True,
                overflow="ellipsis",
                min_width=None if columns[k] == "model" else widest,
            )
        for row in rows:
            table.add_row(*(row[k] for k in keep))
        over = _natural_width(console, table) - console.width
        if over <= 0:
            return table
    if cut and "model" in columns:
        k = columns.index("model")
        longest = max(len(row[k]) for row in [columns, *rows])
        table.columns[keep.index(k)].max_width = max(MIN_MODEL_WIDTH, longest - over)
    return table
