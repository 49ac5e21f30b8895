"""Where a sweep's time went: trial-seconds per model and level, trial by trial, against what
each level's decision needed in hindsight.

A trial's `wall_s` is its own wall time on its slot (one trial a slot), so the sum over
trials is the slot-seconds the sweep used: "trial-seconds". Which trials a decision needed
follows the frontier rule (`analysis.walk_up`, `frontier_search`): a level is solved by
`majority` of its seeds solving it and failed once `seeds - majority + 1` of them fail, so in
hindsight a solved level needed only its `majority` fastest solves and a failed level only
its fastest `seeds - majority + 1` failures. The sum of those is a lower bound, among the
trials that ran, on any walk that reaches the same decisions; the rest went to seeds whose
outcome the decision turned out not to need, and to levels a grid runs and a walk skips.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gradsweep import analysis
from gradsweep.config import group_label


def _full_budget(trials: pd.DataFrame) -> pd.Series:
    """Trials that ran their whole epoch budget without solving (the costly failures)."""
    solved = trials["solved"].fillna(False).astype(bool)
    return ~solved & (trials["epochs_run"] >= trials["max_epochs"])


def _trial_note(trial: pd.Series) -> str:
    """One trial in a level's row: 'seed 1: 40 ep 124 s ✗' (✓ solved, ✗ not)."""
    mark = "✓" if bool(trial["solved"]) else "✗"
    return f"seed {trial['seed']}: {trial['epochs_run']} ep {trial['wall_s']:.0f} s {mark}"


def _needed(level: pd.DataFrame, seeds: int, majority: int) -> float:
    """Trial-seconds the level's decision needed in hindsight: its `majority` fastest solves
    when that many solved, else its fastest `seeds - majority + 1` failures (all of the
    level's trials when it ran too few to decide either way)."""
    solved = level["solved"].fillna(False).astype(bool)
    wins, losses = level.loc[solved, "wall_s"], level.loc[~solved, "wall_s"]
    if len(wins) >= majority:
        return float(np.sort(wins.to_numpy())[:majority].sum())
    fewest = seeds - majority + 1
    if len(losses) >= fewest:
        return float(np.sort(losses.to_numpy())[:fewest].sum())
    return float(level["wall_s"].sum())


def by_level(
    trials: pd.DataFrame,
    seeds: int | None = None,
    majority: int | None = None,
    verify: bool = False,
) -> pd.DataFrame:
    """One row per model (`analysis.frontier_groups`) and level of the dependency axis that
    ran, finished trials only, in walk order: `model` (its label), the level, `trials`,
    `solved`, `epochs` (summed), `trial_s` (summed `wall_s`, seconds), `full_budget` (trials
    that ran every epoch without solving) and their `full_budget_s`, `needed_s` (what the
    decision needed in hindsight, see the module docstring; 0 above a model's first failed
    level, which a frontier walk does not run, but the level just above it with `verify`)
    and `each` (every trial: seed, epochs, seconds, ✓/✗). `seeds` (a grid point's seeds)
    defaults to the distinct seeds of the table, `majority` to more than half of `seeds`."""
    done = analysis.finished(trials)
    if done.empty:
        return pd.DataFrame()
    x = analysis.dependency_axis(done)
    group = analysis.frontier_groups(done)
    seeds = seeds or int(done["seed"].nunique())
    majority = majority or analysis.majority_of(seeds)
    full = _full_budget(done)
    rows = []
    for key, model in analysis.groups(done, group, sort=True):
        failed_at = None  # the position of the model's first failed level, once passed
        for position, (level, runs) in enumerate(model.groupby(x, sort=True)):
            runs = runs.sort_values("seed")
            solved = int(runs["solved"].fillna(False).astype(bool).sum())
            walked = failed_at is None or (verify and position == failed_at + 1)
            if failed_at is None and solved < majority:
                failed_at = position
            rows.append(
                {
                    "model": group_label(key),
                    x: level,
                    "trials": len(runs),
                    "solved": solved,
                    "epochs": int(runs["epochs_run"].sum()),
                    "trial_s": float(runs["wall_s"].sum()),
                    "full_budget": int(full.loc[runs.index].sum()),
                    "full_budget_s": float(runs.loc[full.loc[runs.index], "wall_s"].sum()),
                    "needed_s": _needed(runs, seeds, majority) if walked else 0.0,
                    "each": ", ".join(_trial_note(t) for _, t in runs.iterrows()),
                }
            )
    return pd.DataFrame(rows)


def summary_sentence(table: pd.DataFrame) -> str | None:
    """Where the time went, in one sentence citing `by_level`'s totals; None without rows."""
    if table.empty:
        return None
    total, full = table["trial_s"].sum(), table["full_budget_s"].sum()
    needed = table["needed_s"].sum()
    return (
        f"The {table['trials'].sum()} finished trials used {total:,.0f} trial-seconds; "
        f"{table['full_budget'].sum()} of them ran the whole epoch budget without solving "
        f"({full:,.0f} s, {full / total:.0%}). A frontier walk to the same frontiers needed, "
        f"in hindsight, {needed:,.0f} s ({needed / total:.0%}): at each level up to a model's "
        "first failed one (and the one above it where the search verifies), the fastest solves "
        "that made its majority, or the fastest failures that put the majority out of reach."
    )


def decision_rule(manifest: dict) -> tuple[int | None, int | None, bool]:
    """A grid point's seeds (the spec's seed axis), the majority that solves a level and
    whether the level above the first failed one is verified (the frontier search's), from
    an experiment's manifest; None (False) where it does not say."""
    spec = manifest.get("spec") or {}
    seeds = (spec.get("axes") or {}).get("seed")
    search = spec.get("search") or {}
    seeds = len(seeds) if isinstance(seeds, list) else None
    return seeds, search.get("majority"), bool(search.get("verify"))
