"""What a sweep looks like right now, read from its experiment directory alone (no Ray).

`snapshot(results)` turns a `ResultSet` (of a running, finished or copied experiment) into
the pieces `gradsweep watch` draws: counts by status, a table of best validation accuracy
by model and dependency level, the frontier so far, and the running trials' latest epoch.
Pure: DataFrames in, a `Snapshot` out; the CLI renders it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from gradsweep.analysis import dependency_axis, finished, frontier, frontier_groups
from gradsweep.config import group_label
from gradsweep.results import ResultSet, status_counts


@dataclass
class Snapshot:
    """One frame of a sweep in progress."""

    counts: dict[str, int]
    axis: str  # the dependency axis: the grid's columns
    models: list[str]  # the columns that tell models apart: the grid's rows
    grid: pd.DataFrame  # model x level: "0.97" (mean best val acc), "run", "failed", ""
    frontier: pd.DataFrame  # analysis.frontier of the finished trials (empty before any)
    running: pd.DataFrame  # trial_id, the model's values, level, seed, epoch, of, val_acc


def _label(row: pd.Series, columns: list[str]) -> str:
    return group_label({c: row[c] for c in columns})


def snapshot(results: ResultSet) -> Snapshot:
    """The current state of an experiment, safe on a directory that is still growing."""
    trials = results.trials
    counts = status_counts(results)
    if trials.empty:
        empty = pd.DataFrame()
        return Snapshot(counts, "gap", [], empty, empty, empty)
    x = dependency_axis(trials)
    models = frontier_groups(trials)
    labelled = trials.assign(_model=trials.apply(lambda r: _label(r, models), axis=1))
    done = finished(labelled)
    live = labelled[labelled["status"].isin(["RUNNING", "PENDING", "PAUSED"])]
    levels = sorted(labelled[x].dropna().unique())
    rows = sorted(labelled["_model"].unique())
    grid = pd.DataFrame("", index=rows, columns=levels)
    failed = labelled[labelled["status"] == "ERROR"]
    for (model, level), _ in failed.groupby(["_model", x]):
        grid.loc[model, level] = "failed"
    for (model, level), _ in live.groupby(["_model", x]):
        grid.loc[model, level] = "run"
    for (model, level), sub in done.groupby(["_model", x]):
        mean = pd.to_numeric(sub["best_val_acc"], errors="coerce").mean()
        grid.loc[model, level] = "-" if pd.isna(mean) else f"{mean:.2f}"
    running = live[live["status"] == "RUNNING"]
    running = pd.DataFrame(
        {
            "trial_id": running["trial_id"],
            "model": running["_model"],
            x: running[x],
            "seed": running["seed"],
            "epoch": running["epochs_run"],
            "of": running["max_epochs"],
            "val_acc": running["val_acc"],
        }
    ).reset_index(drop=True)
    table = frontier(done) if not done.empty else pd.DataFrame()
    if not table.empty:
        table.insert(0, "model", table.apply(lambda r: _label(r, models), axis=1))
    return Snapshot(counts, x, models, grid, table, running)
