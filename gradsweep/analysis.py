"""Statistics over the trials table: the helpers every reader of it uses (`finished`,
`groups`, `select`), aggregates with intervals, the frontier, axis importance.

DataFrames in, DataFrames out; no figures, no files. The intervals themselves are
`gradsweep.intervals`'.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from gradsweep import tasks
from gradsweep.archs import ARCHS
from gradsweep.config import RANKABLE_FIELDS, TABLE_FIELDS, TrialConfig
from gradsweep.frontier_search import default_majority
from gradsweep.intervals import geometric_mean, interval, interval_method, wilson_interval
from gradsweep.records import Summary

# Every numeric final metric of the trials table (the solved and diverged flags excluded):
# what `aggregate` summarises unless told otherwise.
NUMERIC_METRICS = tuple(
    name
    for name, kind in Summary.__annotations__.items()
    if name not in ("solved", "diverged") and "bool" not in str(kind)
)


def dependency_axis(trials: pd.DataFrame) -> str:
    """The trials' tasks' dependency axis (`tasks.dependency_axis`: `gap` for recall and
    copy, `seq_len` for sum_sign and adding). Where the tasks disagree or are unknown:
    `gap` when some trial has one, else `seq_len`."""
    names = set(trials["task"].dropna()) if "task" in trials else set()
    axes = {tasks.TASK_DEFS[n].dependency_axis for n in names if n in tasks.TASK_DEFS}
    if len(axes) == 1 and names <= set(tasks.TASK_DEFS):
        return axes.pop()
    if "gap" in trials and trials["gap"].notna().any():
        return "gap"
    return "seq_len"


def baseline_of(trial: pd.Series) -> tasks.Baseline | None:
    """What a model that learned nothing scores on the task instance a trial row ran
    (None for a task this gradsweep does not know)."""
    task = tasks.TASK_DEFS.get(str(trial["task"]))
    if task is None:
        return None
    gap = None if pd.isna(trial["gap"]) else int(trial["gap"])
    return task.baseline(int(trial["seq_len"]), gap)


def finished(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that ran to the end (`TERMINATED`); all rows of a table without status."""
    return trials[trials["status"] == "TERMINATED"] if "status" in trials else trials


def equals(column: pd.Series, value: Any) -> np.ndarray:
    """Which rows of `column` hold `value`, NA matching NA (an unclipped model's clip_norm)."""
    if pd.isna(value):
        return column.isna().to_numpy()
    return (column == value).fillna(False).to_numpy(dtype=bool)


def select(frame: pd.DataFrame, values: dict[str, Any]) -> pd.DataFrame:
    """The rows of `frame` whose columns hold `values` (column -> value), NA matching NA."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in values.items():
        mask &= equals(frame[column], value)
    return frame[mask]


def groups(
    frame: pd.DataFrame, by: list[str], sort: bool = False
) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    """(column -> value, rows) per distinct combination of `by`'s values, NA keys kept (an
    unclipped model is a group, never dropped); the whole frame once when `by` is empty."""
    if not by:
        yield {}, frame
        return
    for key, rows in frame.groupby(by, dropna=False, sort=sort):
        key = key if isinstance(key, tuple) else (key,)
        yield dict(zip(by, key, strict=True)), rows


def ordered_values(column: pd.Series) -> list:
    """A column's distinct values in order, NA first (clipping off before any clip)."""
    values = list(column.drop_duplicates())
    return [v for v in values if pd.isna(v)][:1] + sorted(v for v in values if not pd.isna(v))


def swept(trials: pd.DataFrame, column: str) -> bool:
    """True when `column` takes more than one value (NA counts as a value)."""
    return column in trials and trials[column].nunique(dropna=False) > 1


def model_columns(trials: pd.DataFrame) -> list[str]:
    """What tells one model from another on a heatmap's rows: arch, and every other swept
    setting that is not a panel of its own (clip_norm, activation, optimizer, lr ...)."""
    panels = set(facets(trials))
    return [c for c in frontier_groups(trials) if c not in panels]


def facets(trials: pd.DataFrame) -> list[str]:
    """Columns that get one panel per value: hidden, and seq_len when not a function of gap."""
    x = dependency_axis(trials)
    out = []
    if swept(trials, "hidden"):
        out.append("hidden")
    if x == "gap" and swept(trials, "seq_len"):
        per_gap = trials.groupby("gap")["seq_len"].nunique()
        if (per_gap > 1).any():
            out.append("seq_len")
    return out


def _summary(values: np.ndarray, metric: str, method: str) -> dict[str, Any]:
    """One group's mean, geometric mean, std, interval and count of `metric`."""
    low, high = interval(values, method)
    return {
        f"{metric}_mean": float(values.mean()) if len(values) else np.nan,
        f"{metric}_gmean": geometric_mean(values),
        f"{metric}_std": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
        f"{metric}_ci_low": low,
        f"{metric}_ci_high": high,
        f"{metric}_count": len(values),
    }


def _solved_summary(group: pd.DataFrame) -> dict[str, Any]:
    """One group's solved count and rate, with the rate's 95% Wilson interval."""
    solved = int(group["solved"].fillna(False).astype(bool).sum())
    low, high = wilson_interval(solved, len(group))
    return {
        "solved_count": solved,
        "solved_rate": solved / len(group),
        "solved_ci_low": low,
        "solved_ci_high": high,
    }


def aggregate(
    trials: pd.DataFrame,
    by: list[str],
    metrics: tuple[str, ...] | list[str] | None = None,
) -> pd.DataFrame:
    """Per group (usually the seeds of a grid point): the mean, geometric mean, std, a 95%
    interval and count of each metric, and the solved rate with a 95% Wilson interval. By
    default every numeric metric of the table (`NUMERIC_METRICS`).

    Each metric's interval method (`interval_method`: logit-t for shares, log-t for positive
    metrics, so every interval stays in the metric's range) is chosen once, from all its
    finished values, then used for every group; `out.attrs["ci_method"]` names it.
    Groups with NA keys (unclipped trials have `clip_norm` NA) are kept, never dropped.
    Only finished trials (`TERMINATED`) count.
    """
    done = finished(trials)
    if metrics is None:
        metrics = [m for m in NUMERIC_METRICS if m in done]
    numbers = {m: pd.to_numeric(done[m], errors="coerce").astype("float64") for m in metrics}
    methods = {m: interval_method(numbers[m].to_numpy(), m) for m in metrics}
    rows = []
    for key, group in groups(done, by, sort=True):
        row: dict[str, Any] = {**key, "n": len(group)}
        for metric in metrics:
            values = numbers[metric].loc[group.index].dropna().to_numpy()
            row |= _summary(values, metric, methods[metric])
        if "solved" in group:
            row |= _solved_summary(group)
        rows.append(row)
    out = pd.DataFrame(rows)
    for column in by:  # keep the key columns' dtypes (Int64, Float64 with NA, string)
        if column in done:
            out[column] = out[column].astype(done[column].dtype)
    # The table says how its intervals were taken (pandas keeps `attrs` with the frame).
    out.attrs["ci_method"] = methods | {"solved_rate": "Wilson score"}
    return out


def frontier_groups(trials: pd.DataFrame) -> list[str]:
    """The columns that make a model for the frontier: every swept config column except
    the dependency axis, the seed, seq_len where it follows from gap (seq_len: gap+K), and
    a column where every row holds its arch's own value (expRNN's modrelu beside the
    SimpleRNN's tanh: the arch says it, so labels do not repeat it)."""
    x = dependency_axis(trials)
    skip = {x, "seed", "status", "trial_id"}
    if x == "gap" and "seq_len" not in facets(trials):
        skip.add("seq_len")
    swept_columns = [
        c
        for c in TABLE_FIELDS
        if c not in skip | {"arch"} and swept(trials, c) and not _follows_arch(trials, c)
    ]
    return ["arch", *swept_columns]


def _follows_arch(trials: pd.DataFrame, column: str) -> bool:
    """Whether every row of `column` holds what its arch fills in when a config leaves the
    field out (`ArchInfo.defaults`, else the field's default); only for such fields."""
    if "arch" not in trials or not any(column in a.defaults for a in ARCHS.values()):
        return False
    default = TrialConfig.model_fields[column].default
    own = trials["arch"].map(lambda arch: ARCHS[arch].defaults.get(column, default))
    return bool((trials[column] == own).all())


def majority_of(seeds: int) -> int:
    """The default majority: more than half of the seeds (`frontier_search.default_majority`)."""
    return default_majority(seeds)


def walk_up(levels: pd.DataFrame, x: str, majority: int | None = None) -> tuple[int | None, bool]:
    """One model's frontier from its `aggregate` rows (one per level of `x` that ran),
    walking up from the smallest level: the position (in `x` order) of the last level
    before the first that fewer than `majority` seeds solved (None when the smallest
    failed), and whether no level above that failure was solved again (monotone).
    `majority` defaults to more than half of the most seeds any level ran."""
    levels = levels.sort_values(x)
    majority = majority or majority_of(int(levels["n"].max()))
    solved = (levels["solved_count"] >= majority).to_numpy()
    first_failed = len(levels) if solved.all() else int(np.argmin(solved))
    return (first_failed - 1 if first_failed > 0 else None), not solved[first_failed:].any()


def frontier(trials: pd.DataFrame, majority: int | None = None) -> pd.DataFrame:
    """The trainability frontier per model, with the evidence that brackets it.

    Per model (`frontier_groups`), finished trials only, walking up the dependency levels
    that ran: `frontier` is the last level before the first that fewer than `majority` of
    its seeds solved (NA when the smallest already failed; the same rule as the frontier
    search), with `solved`/`seeds` there and a 95% Wilson interval of its solved share;
    `above` is the first failed level with its counts and interval (NA when every level
    was solved); `tested_up_to` is the largest level run; `not_run` lists the levels of
    the table that this model did not run (a frontier search skips the hopeless ones);
    `monotone` is False when a level above the first failed one was solved again.
    """
    x = dependency_axis(trials)
    group = frontier_groups(trials)
    agg = aggregate(trials, [*group, x], metrics=[])
    everywhere = sorted(trials[x].dropna().unique())
    out = []
    for key, levels in groups(agg, group):
        levels = levels.sort_values(x).reset_index(drop=True)
        at, monotone = walk_up(levels, x, majority)
        row: dict[str, Any] = dict(key)
        below = levels.iloc[at] if at is not None else None
        first_failed = 0 if at is None else at + 1
        above = levels.iloc[first_failed] if first_failed < len(levels) else None
        row |= _bracket("frontier", "", below, x) | _bracket("above", "above_", above, x)
        row["tested_up_to"] = levels[x].max()
        row["not_run"] = ", ".join(str(v) for v in everywhere if v not in set(levels[x]))
        row["monotone"] = monotone
        out.append(row)
    return pd.DataFrame(out)


def _bracket(name: str, prefix: str, level: pd.Series | None, x: str) -> dict[str, Any]:
    """One bracketing level: its value, solved and seed counts, 95% Wilson interval."""
    if level is None:
        return {name: pd.NA, f"{prefix}solved": pd.NA, f"{prefix}seeds": pd.NA,
                f"{prefix}ci_low": np.nan, f"{prefix}ci_high": np.nan}  # fmt: skip
    return {
        name: level[x],
        f"{prefix}solved": int(level["solved_count"]),
        f"{prefix}seeds": int(level["n"]),
        f"{prefix}ci_low": float(level["solved_ci_low"]),
        f"{prefix}ci_high": float(level["solved_ci_high"]),
    }


NOISE_FLOOR = "seed"
NOISE_COLUMN = "(noise)"  # the floor when seed was not swept: a column of random draws


def ranked_axes(trials: pd.DataFrame) -> list[str]:
    """The swept `config.RANKABLE_FIELDS` axes of `trials`; seq_len only where it is not a
    function of gap (seq_len: gap+K makes it the same axis twice), and no field that only
    takes each arch's own value (expRNN's modrelu beside the SimpleRNN's tanh is the arch
    axis again, `_follows_arch`)."""
    axes = [c for c in RANKABLE_FIELDS if swept(trials, c) and not _follows_arch(trials, c)]
    if "seq_len" in axes and "gap" in axes and "seq_len" not in facets(trials):
        axes.remove("seq_len")
    return axes


def _features(done: pd.DataFrame, axes: list[str], seed: int) -> pd.DataFrame:
    """The axes as numbers a forest can split on (categories as codes, clipping off as 0),
    and a column of random draws as the noise floor when the seed was not swept."""
    features = pd.DataFrame(index=done.index)
    for axis in axes:
        column = done[axis]
        if axis == "clip_norm":
            features[axis] = column.astype("float64").fillna(0.0)  # off = no clipping = 0
        elif column.dtype.kind in "iuf" or str(column.dtype) in ("Int64", "Float64"):
            features[axis] = column.astype("float64")
        else:
            features[axis] = column.astype("category").cat.codes
    if NOISE_FLOOR not in axes:
        features[NOISE_COLUMN] = np.random.default_rng(seed).random(len(features))
    return features


def _fold_importances(
    features: pd.DataFrame, target: np.ndarray, seed: int, folds: int
) -> dict[str, list[float]]:
    """Per feature, its permutation importance in each held-out fold (the mean over that
    fold's repeats: folds are the units), as the rise in mean squared error."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import KFold

    draws: dict[str, list[float]] = {name: [] for name in features.columns}
    splits = KFold(n_splits=min(folds, len(features) // 2), shuffle=True, random_state=seed)
    for train, test in splits.split(features):
        model = RandomForestRegressor(n_estimators=100, random_state=seed, min_samples_leaf=2)
        model.fit(features.iloc[train], target[train])
        result = permutation_importance(  # squared error, not R²: a fold whose accuracies
            model,  # are all alike has no R² to speak of, but its error still grows
            features.iloc[test],
            target[test],
            n_repeats=5,
            random_state=seed,
            scoring="neg_mean_squared_error",
        )
        for name, values in zip(features.columns, result.importances, strict=True):
            draws[name].append(float(np.mean(values)))
    return draws


def axis_importance(trials: pd.DataFrame, seed: int = 0, folds: int = 5) -> pd.DataFrame:
    """Out-of-sample permutation importance of each swept axis for test accuracy (in the
    spirit of Greff et al. 2017's fANOVA): a random forest is fitted on all folds but one
    (`folds`-fold cross-validation) and each axis is shuffled in the held-out fold; the
    rise in mean squared error there, over folds and repeats, is the axis's importance.

    The seed is noise by construction, so it is the floor: an axis stands above it
    (`above_floor`) when its importance exceeds the seed's by more than twice their
    combined standard errors over the folds (each fold's mean over its repeats is one
    draw). With one seed, a column of random draws takes its place.
    Empty with fewer than 2 axes or 8 trials."""
    columns = ["axis", "importance", "std", "above_floor"]
    done = finished(trials)
    done = done[done["test_acc"].notna()]
    axes = ranked_axes(done)
    if len([a for a in axes if a != NOISE_FLOOR]) < 2 or len(done) < 8:
        return pd.DataFrame(columns=columns)
    features = _features(done, axes, seed)
    draws = _fold_importances(features, done["test_acc"].to_numpy(), seed, folds)
    floor = NOISE_FLOOR if NOISE_FLOOR in axes else NOISE_COLUMN
    floor_draws = draws[floor]
    rows = []
    for name, values in draws.items():
        mean, std = float(np.mean(values)), float(np.std(values, ddof=1))
        margin = 2 * np.sqrt((std**2 + np.var(floor_draws, ddof=1)) / len(values))
        above = name != floor and mean - float(np.mean(floor_draws)) > margin
        rows.append({"axis": name, "importance": mean, "std": std, "above_floor": above})
    return pd.DataFrame(rows, columns=columns).sort_values(
        "importance", ascending=False, ignore_index=True
    )
