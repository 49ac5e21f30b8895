"""Does a setting change the frontier? `compare(trials, axis)` answers from the trials table.

For every other model setting and every level of the dependency axis, each value of `axis`
is set against a reference value (the first, in sorted order; "off" first for clip_norm):
- the solved-rate difference, with Newcombe's hybrid score interval (Newcombe 1998, method
  10: built from the two Wilson intervals; it stays within [-1, 1]);
- differences matched by seed (same seed, same level, same other settings) in test
  accuracy, samples to solve and log10 of the signal-gradient ratio, with a 95% paired
  t-interval over the seeds (accuracy differences truncated to [-1, 1], their range);
- each value's frontier with its bracketing evidence (solved/seeds at the frontier and at
  the first failed level).
The seed-matched metrics are those the metrics table marks `matched`. `Comparison.findings`
(written by `findings.of_comparison`) states whether the axis changes the frontier, citing
those numbers, and says "no detectable difference at n seeds" when the intervals span 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gradsweep import analysis, findings, intervals
from gradsweep.config import format_value
from gradsweep.errors import ConfigError
from gradsweep.metrics import MATCHED, Metric


def _matched_values(values: pd.Series, metric: Metric) -> pd.Series:
    """What a seed-matched difference is taken of: log10 for a log-scale metric (NaN where
    not positive), the value itself otherwise."""
    values = values.astype("float64")
    return np.log10(values.where(values > 0)) if metric.log else values


def _bounds(metric: Metric) -> tuple[float, float]:
    """The range of a difference of `metric`: [-1, 1] for a share, unbounded otherwise."""
    return (-1.0, 1.0) if metric.share else (-np.inf, np.inf)


@dataclass
class Comparison:
    """What `compare` found: one row per (other settings, level, value) in `levels`, one
    per (other settings, value) in `frontiers`, and the sentences that cite them."""

    axis: str
    reference: object
    levels: pd.DataFrame
    frontiers: pd.DataFrame
    findings: list[str] = field(default_factory=list)


def newcombe_interval(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """95% interval of p2 - p1 by Newcombe's hybrid score method (from Wilson intervals)."""
    if n1 == 0 or n2 == 0:
        return (np.nan, np.nan)
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = intervals.wilson_interval(k1, n1)
    l2, u2 = intervals.wilson_interval(k2, n2)
    d = p2 - p1
    return (d - np.hypot(p2 - l2, u1 - p1), d + np.hypot(u2 - p2, p1 - l1))


def paired_interval(diffs: np.ndarray, bounds=(-np.inf, np.inf)) -> tuple[float, float, float]:
    """Mean of paired differences and its 95% t-interval, truncated to `bounds`."""
    diffs = np.asarray(diffs, dtype="float64")
    diffs = diffs[np.isfinite(diffs)]
    if len(diffs) == 0:
        return (np.nan, np.nan, np.nan)
    low, high = intervals.t_interval(diffs)
    return (float(diffs.mean()), max(low, bounds[0]), min(high, bounds[1]))


def comparable_axes(trials: pd.DataFrame) -> list[str]:
    """Swept settings other than the architecture, the dependency axis and the seed, that
    take two values or more within some model (a `gate_init` set only for the LSTM, beside
    an expRNN, has nothing to compare)."""
    groups = analysis.frontier_groups(trials)
    return [c for c in groups if c != "arch" and _varies_within_a_model(trials, c, groups)]


def _varies_within_a_model(trials: pd.DataFrame, axis: str, groups: list[str]) -> bool:
    others = [c for c in groups if c != axis]
    models = analysis.groups(trials, others)
    return any(model[axis].nunique(dropna=False) > 1 for _, model in models)


def compare(trials: pd.DataFrame, axis: str) -> Comparison:
    """Compare the values of `axis`, model by model and level by level (module docstring)."""
    done = analysis.finished(trials)
    x = analysis.dependency_axis(done)
    # arch names the models a comparison is made within, so it is not one of the settings
    if axis in (x, "seed", "arch") or axis not in done or not analysis.swept(done, axis):
        allowed = ", ".join(comparable_axes(done)) or "none in these trials"
        raise ConfigError(
            f"compare: {axis!r} is not allowed: compare a swept setting other than the "
            f"architecture, the dependency axis and the seed ({allowed})",
            "compare",
        )
    groups = analysis.frontier_groups(done)
    if not _varies_within_a_model(done, axis, groups):
        raise ConfigError(
            f"compare: {axis!r} is not allowed here: it changes only together with the model "
            f"({', '.join(c for c in groups if c != axis)}), so no model ran two of its values; "
            "sweep it as its own axis to compare it",
            "compare",
        )
    values = analysis.ordered_values(done[axis])
    reference = values[0]
    others = [c for c in groups if c != axis]
    rows, frontier_rows = [], []
    for setting, model in analysis.groups(done, others):
        base = analysis.select(model, {axis: reference})
        if base.empty or model[axis].nunique(dropna=False) < 2:
            continue  # nothing here to set against the reference
        for value in values:
            sub = analysis.select(model, {axis: value})
            frontier_rows.append({**setting, axis: value, **_frontier_of(sub, x)})
            if value is reference or sub.empty:  # the reference is what the rest are set against
                continue
            for level in sorted(set(sub[x].dropna()) | set(base[x].dropna())):
                a = base[base[x] == level]
                b = sub[sub[x] == level]
                rows.append({**setting, x: level, axis: value, **_level(a, b)})
    if not frontier_rows:  # the models that vary it never ran the reference value
        raise ConfigError(
            f"compare: {axis!r} is not allowed here: no model ran both "
            f"{format_value(axis, reference)} (the reference, its first value) and another value",
            "compare",
        )
    levels = pd.DataFrame(rows)
    frontiers = pd.DataFrame(frontier_rows)
    result = Comparison(axis, reference, levels, frontiers)
    result.findings = findings.of_comparison(axis, reference, others, (levels, frontiers), x)
    return result


def _frontier_of(sub: pd.DataFrame, x: str) -> dict:
    if sub.empty:
        return {"frontier": np.nan}
    row = analysis.frontier(sub).iloc[0]
    keep = ["frontier", "solved", "seeds", "above", "above_solved", "above_seeds", "tested_up_to"]
    return {k: row[k] for k in keep if k in row}


def _level(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    """One level: the solved-rate difference b - a, and the seed-matched differences."""
    ka, kb = (int(t["solved"].fillna(False).astype(bool).sum()) for t in (a, b))
    low, high = newcombe_interval(ka, len(a), kb, len(b))
    out = {
        "n_ref": len(a),
        "n": len(b),
        "solved_ref": ka,
        "solved": kb,
        "solved_diff": (kb / len(b) - ka / len(a)) if len(a) and len(b) else np.nan,
        "solved_diff_low": low,
        "solved_diff_high": high,
    }
    pairs = a.merge(b, on="seed", suffixes=("_ref", ""))
    out["pairs"] = len(pairs)
    for metric in MATCHED:
        diffs = _matched_values(pairs[metric.name], metric) - _matched_values(
            pairs[f"{metric.name}_ref"], metric
        )
        mean, lo, hi = paired_interval(diffs.to_numpy(), _bounds(metric))
        name = metric.compared
        out |= {f"{name}_diff": mean, f"{name}_diff_low": lo, f"{name}_diff_high": hi}
    return out
