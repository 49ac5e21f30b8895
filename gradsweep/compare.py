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
`Comparison.findings` states whether the axis changes the frontier, citing those numbers,
and says "no detectable difference at n seeds" when the intervals span 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gradsweep import analysis
from gradsweep.config import format_value, group_label
from gradsweep.errors import ConfigError


def _log10_positive(values: pd.Series) -> pd.Series:
    values = values.astype("float64")
    return np.log10(values.where(values > 0))


# Matched-by-seed differences: name -> (trials column, transform, range of the difference).
MATCHED = {
    "test_acc": ("test_acc", lambda v: v.astype("float64"), (-1.0, 1.0)),
    "samples_to_solve": ("samples_to_solve", lambda v: v.astype("float64"), (-np.inf, np.inf)),
    "log10_signal_grad_ratio": ("signal_grad_ratio", _log10_positive, (-np.inf, np.inf)),
}


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
    l1, u1 = analysis.wilson_interval(k1, n1)
    l2, u2 = analysis.wilson_interval(k2, n2)
    d = p2 - p1
    return (d - np.hypot(p2 - l2, u1 - p1), d + np.hypot(u2 - p2, p1 - l1))


def paired_interval(diffs: np.ndarray, bounds=(-np.inf, np.inf)) -> tuple[float, float, float]:
    """Mean of paired differences and its 95% t-interval, truncated to `bounds`."""
    diffs = np.asarray(diffs, dtype="float64")
    diffs = diffs[np.isfinite(diffs)]
    if len(diffs) == 0:
        return (np.nan, np.nan, np.nan)
    low, high = analysis.t_interval(diffs)
    return (float(diffs.mean()), max(low, bounds[0]), min(high, bounds[1]))


def comparable_axes(trials: pd.DataFrame) -> list[str]:
    """Swept settings other than the architecture, the dependency axis and the seed."""
    return [c for c in analysis.frontier_groups(trials) if c != "arch"]


def compare(trials: pd.DataFrame, axis: str) -> Comparison:
    """Compare the values of `axis`, model by model and level by level (module docstring)."""
    done = trials[trials["status"] == "TERMINATED"] if "status" in trials else trials
    x = analysis.dependency_axis(done)
    if axis in (x, "seed") or axis not in done or not analysis.swept(done, axis):
        allowed = ", ".join(comparable_axes(done)) or "none in these trials"
        raise ConfigError(
            f"compare: {axis!r} is not allowed: compare a swept setting other than the "
            f"dependency axis and the seed ({allowed})",
            "compare",
        )
    values = analysis.ordered_values(done[axis])
    reference = values[0]
    others = [c for c in analysis.frontier_groups(done) if c != axis]
    rows, frontier_rows = [], []
    for key, model in done.groupby(others, dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        setting = dict(zip(others, key, strict=True))
        base = model[analysis.equals(model[axis], reference)]
        for value in values:
            sub = model[analysis.equals(model[axis], value)]
            frontier_rows.append({**setting, axis: value, **_frontier_of(sub, x)})
            if value is reference or sub.empty:  # the reference is what the rest are set against
                continue
            for level in sorted(set(sub[x].dropna()) | set(base[x].dropna())):
                a = base[base[x] == level]
                b = sub[sub[x] == level]
                rows.append({**setting, x: level, axis: value, **_level(a, b)})
    levels = pd.DataFrame(rows)
    frontiers = pd.DataFrame(frontier_rows)
    result = Comparison(axis, reference, levels, frontiers)
    result.findings = _findings(result, others, x)
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
    for name, (column, transform, bounds) in MATCHED.items():
        diffs = transform(pairs[column]) - transform(pairs[f"{column}_ref"])
        mean, lo, hi = paired_interval(diffs.to_numpy(), bounds)
        out |= {f"{name}_diff": mean, f"{name}_diff_low": lo, f"{name}_diff_high": hi}
    return out


def _spans_zero(low: float, high: float) -> bool:
    return not (np.isfinite(low) and np.isfinite(high)) or (low <= 0 <= high)


def _findings(result: Comparison, others: list[str], x: str) -> list[str]:
    axis, levels, frontiers = result.axis, result.levels, result.frontiers
    out = []
    ref_label = format_value(axis, result.reference)
    for key, fronts in frontiers.groupby(others, dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        setting = dict(zip(others, key, strict=True))
        name = group_label(setting)
        mask = pd.Series(True, index=levels.index)
        for column, value in setting.items():
            mask &= analysis.equals(levels[column], value)
        model_levels = levels[mask]
        is_reference = analysis.equals(fronts[axis], result.reference)
        ref_front = fronts[is_reference].iloc[0]
        for _, front in fronts[~is_reference].iterrows():
            value = front[axis]
            label = format_value(axis, value)
            rows = model_levels[analysis.equals(model_levels[axis], value)]
            seeds = int(rows["n"].max()) if len(rows) else 0
            a, b = ref_front["frontier"], front["frontier"]
            fa = "none" if pd.isna(a) else f"{x} {int(a)}"
            fb = "none" if pd.isna(b) else f"{x} {int(b)}"
            decisive = rows[~rows.apply(
                lambda r: _spans_zero(r["solved_diff_low"], r["solved_diff_high"]), axis=1
            )] if len(rows) else rows  # fmt: skip
            head = f"{name}: {axis} {label} against {ref_label}"
            if (pd.isna(a) and pd.isna(b)) or (not pd.isna(a) and not pd.isna(b) and a == b):
                if decisive.empty:
                    out.append(
                        f"{head}: the same frontier ({fa}); no detectable difference in the "
                        f"solved rate at any {x} at {_seeds(seeds)}{_acc_note(rows, x)}."
                    )
                else:
                    out.append(f"{head}: the same frontier ({fa}), but {_cite(decisive, x)}.")
                continue
            if decisive.empty:
                worst = rows.iloc[(rows["solved_diff"].abs()).argmax()] if len(rows) else None
                cite = f" (largest: {_cite_row(worst, x)})" if worst is not None else ""
                out.append(
                    f"{head}: frontier {fb} against {fa}, but no detectable difference in the "
                    f"solved rate at {_seeds(seeds)}{cite}; run more seeds to tell."
                )
            else:
                out.append(f"{head}: the frontier moves from {fa} to {fb}; {_cite(decisive, x)}.")
    return out


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _cite_row(row: pd.Series, x: str) -> str:
    return (
        f"at {x} {int(row[x])} solved {row['solved']}/{row['n']} against "
        f"{row['solved_ref']}/{row['n_ref']}, difference {row['solved_diff']:+.0%} "
        f"[{row['solved_diff_low']:+.0%}, {row['solved_diff_high']:+.0%}]"
    )


def _cite(rows: pd.DataFrame, x: str) -> str:
    return "; ".join(_cite_row(r, x) for _, r in rows.iterrows())


def _acc_note(rows: pd.DataFrame, x: str) -> str:
    """Levels where the seed-matched test accuracy differs detectably, if any."""
    if rows.empty:
        return ""
    hits = rows[~rows.apply(
        lambda r: _spans_zero(r["test_acc_diff_low"], r["test_acc_diff_high"]), axis=1
    )]  # fmt: skip
    if hits.empty:
        return ""
    parts = [
        f"{x} {int(r[x])} {r['test_acc_diff']:+.3f} [{r['test_acc_diff_low']:+.3f}, "
        f"{r['test_acc_diff_high']:+.3f}]"
        for _, r in hits.iterrows()
    ]
    return "; seed-matched test accuracy differs at " + ", ".join(parts)
