"""Every sentence a report states, computed from the tables and citing the numbers it rests on.

Nothing is pre-written: with too little data a finding says so instead of concluding. The
report's sentences (`of_trials`, `of_importance`, `of_experiments`) and `compare`'s
(`of_comparison`) live here together, so one style of citing numbers holds for all.
Numbers are written by `metrics.format_number`, config values by `config.format_value`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gradsweep import analysis, intervals
from gradsweep.config import (
    INIT_FIELDS,
    TrialConfig,
    check_interval,
    format_value,
    group_label,
    model_label,
)
from gradsweep.metrics import format_number


def _samples(value: float) -> str:
    """A count of training sequences: '328k' from 10,000 up."""
    if not np.isfinite(value):
        return "n/a"
    return f"{value / 1000:.0f}k" if value >= 10_000 else f"{value:.0f}"


def _seeds(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


# --- the trials table ---------------------------------------------------------------------


def counts_sentence(trials: pd.DataFrame, expected: int | None) -> str:
    """How many trials exist, finished, diverged, failed, are unfinished."""
    status = trials["status"]
    done = analysis.finished(trials)
    diverged = int(done["diverged"].fillna(False).sum())
    failed = int((status == "ERROR").sum())
    unfinished = len(trials) - len(done) - failed + max(0, (expected or 0) - len(trials))
    text = f"{len(done)} of {max(expected or 0, len(trials))} trials finished"
    text += f" ({diverged} diverged)" if diverged else " (none diverged)"
    text += f", {failed} failed" if failed else ""
    text += f", {unfinished} not finished" if unfinished else ""
    return text + "."


def of_trials(trials: pd.DataFrame, expected: int | None = None) -> list[str]:
    """Sentences computed from the trial table, each citing the numbers it rests on."""
    out = [counts_sentence(trials, expected)]
    done = analysis.finished(trials)
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


def _frontier_sentence(done: pd.DataFrame, row: pd.Series, name: str, x: str) -> str:
    """One model's frontier: where it stands, with the seeds and the level above it."""
    model = analysis.select(done, {c: row[c] for c in analysis.frontier_groups(done)})
    tested = int(row["tested_up_to"])
    if pd.isna(row["frontier"]):
        best = model.groupby(x)["solved"].mean()
        lowest = int(model[x].min())
        span = f"{lowest}–{tested}" if lowest < tested else f"{tested} only"
        return (
            f"{name} solved no {x} in most seeds (tested {x} {span}; "
            f"best share {best.max():.0%} at {x} {best.idxmax()})."
        )
    frontier = int(row["frontier"])
    at = model[(model[x] == frontier) & model["solved"].fillna(False)]
    median = float(at["samples_to_solve"].astype("float64").median())
    largest = pd.isna(row["above"])
    tail = (
        ""
        if largest
        else f"; {x} {int(row['above'])} failed ({row['above_solved']}/{row['above_seeds']} "
        f"seeds solved), tested up to {tested}"
    )
    return (
        f"{name} solved {x} {frontier}{' (the largest tested)' if largest else ''} in "
        f"{row['solved']}/{row['seeds']} seeds, median {_samples(median)} training "
        f"sequences to solve{_resolution(at)}{tail}."
    )


def _resolution(trials: pd.DataFrame) -> str:
    """' (checked every 1,024)': the coarsest interval between solve checks among `trials`
    (`config.check_interval`), the resolution of their samples_to_solve; '' when the table
    lacks the sizes."""
    if trials.empty or not {"eval_every", "batch_size", "train_size"} <= set(trials):
        return ""
    sizes = trials[["eval_every", "batch_size", "train_size"]].itertuples(index=False)
    every = max(check_interval(None if pd.isna(e) else int(e), int(b), int(n)) for e, b, n in sizes)
    return f" (checked every {every:,})"


def _frontier_sentences(done: pd.DataFrame, x: str) -> list[str]:
    """Who learned how far first (the ranking, and who went beyond the reference model),
    then each model's frontier with its evidence."""
    table = analysis.frontier(done)
    group = analysis.frontier_groups(done)
    lead, out, ranked = [], [], []
    for _, row in table.iterrows():
        name = group_label({c: row[c] for c in group})
        if not row["monotone"]:
            out.append(
                f"{name} is not monotone in {x}: most seeds solved a level above the first "
                "one they failed, so its frontier below is a lower bound."
            )
        out.append(_frontier_sentence(done, row, name, x))
        ranked.append((name, -1 if pd.isna(row["frontier"]) else int(row["frontier"])))
    if len(ranked) > 1:
        ranked.sort(key=lambda item: item[1], reverse=True)
        order = ", ".join(f"{n} {f if f >= 0 else 'none'}" for n, f in ranked)
        lead.append(
            f"Frontier by model (largest {x} below the first that most seeds failed): {order}."
        )
        lead += _beyond_reference(done, table, x)
    return lead + out


def _frontier_of(row: pd.Series) -> int:
    return -1 if pd.isna(row["frontier"]) else int(row["frontier"])


def reference_model(table: pd.DataFrame, group: list[str]) -> tuple[pd.Series, str] | None:
    """The row of `analysis.frontier`'s `table` that the others are measured against, and
    why: the model whose settings are all `TrialConfig`'s defaults (the plain model a
    newcomer gets), else the one with the shortest frontier (of those tied, the one with
    the most settings at their defaults: clipping off before on); None with fewer than two."""
    if len(table) < 2:
        return None
    defaults = {c: TrialConfig.model_fields[c].default for c in group}
    plain = analysis.select(table, defaults)
    if not plain.empty:
        return plain.iloc[0], "the default model"
    at_default = sum(analysis.equals(table[c], v).astype(int) for c, v in defaults.items())
    order = pd.DataFrame(
        {"front": table.apply(_frontier_of, axis=1).to_numpy(), "plain": -at_default}
    )
    first = order.sort_values(["front", "plain"], kind="stable").index[0]
    return table.iloc[first], "the shortest frontier"


def _ratio_at(done: pd.DataFrame, key: dict, x: str, level) -> float:
    """A model's initial signal-to-last ratio at `level`: geometric mean over its seeds."""
    at = analysis.select(done, {**key, x: level})
    return intervals.geometric_mean(at["signal_grad_ratio_init"].astype("float64").to_numpy())


def _beyond_reference(done: pd.DataFrame, table: pd.DataFrame, x: str) -> list[str]:
    """Which models learned beyond the reference model's frontier (`reference_model`), how
    far, and why as far as the gradient at init tells: each one's initial signal-to-last
    gradient ratio at the first level the reference failed, against the reference's."""
    group = analysis.frontier_groups(done)
    found = reference_model(table, group)
    if found is None:
        return []
    ref, why = found
    ref_name, ref_front = group_label({c: ref[c] for c in group}), _frontier_of(ref)
    shown = f"{x} {ref_front}" if ref_front >= 0 else f"none: it solved no {x}"
    head = f"{ref_name}'s frontier ({shown}; {why})"
    beyond = [r for _, r in table.iterrows() if _frontier_of(r) > ref_front]
    if not beyond:
        return [f"No model learned beyond {head}."]
    beyond.sort(key=_frontier_of, reverse=True)
    names = [group_label({c: r[c] for c in group}) for r in beyond]
    text = f"Beyond {head}: " + ", ".join(
        f"{n} learned up to {x} {_frontier_of(r)}" for n, r in zip(names, beyond, strict=True)
    )
    if pd.isna(ref["above"]) or "signal_grad_ratio_init" not in done:
        return [text + "."]
    level = ref["above"]
    ratios = [
        f"{format_number(_ratio_at(done, {c: r[c] for c in group}, x, level))} for {n}"
        for n, r in zip(names, beyond, strict=True)
    ]
    reference = _ratio_at(done, {c: ref[c] for c in group}, x, level)
    return [
        f"{text}. At {x} {format_value(x, level)}, where {ref_name} failed, the gradient "
        f"reaching the signal before training, as a share of that at the last input "
        f"(geometric mean over seeds), was {', '.join(ratios)}, against "
        f"{format_number(reference)} for {ref_name}."
    ]


def _against_baseline(trials: pd.DataFrame, level, x: str) -> str:
    """One level's geometric-mean test loss [95% log-t interval] against its baseline."""
    base = analysis.baseline_of(trials.iloc[0])
    losses = trials["test_loss"].astype("float64").to_numpy()
    losses = losses[np.isfinite(losses)]
    if len(losses) == 0:
        return f"{x} {level}: no finite loss"
    low, high = intervals.metric_interval(losses, "test_loss")
    loss = intervals.geometric_mean(losses)  # the centre of the log-t interval
    if len(losses) == 1:  # one seed: the point alone
        low = high = loss
    mark = "below" if high < base.value else "above" if low > base.value else "at"
    shown = (
        f"{format_number(loss)} (one seed)"
        if len(losses) == 1
        else f"{format_number(loss)} [{format_number(low)}, {format_number(high)}]"
    )
    return f"{x} {format_value(x, level)}: {shown} ({mark} {format_number(base.value)})"


def _baseline_sentences(done: pd.DataFrame, x: str) -> list[str]:
    """Per model and level, the geometric-mean test loss with its 95% interval over seeds
    (log-t) against the task's no-learning loss (adding: always predicting 1; copy: the
    memoryless strategy): below or above it when the interval is, else at it."""
    out = []
    group = analysis.frontier_groups(done)
    for _, of_task in analysis.groups(done, ["task"]):
        base = analysis.baseline_of(of_task.iloc[0])
        if base is None or base.metric != "loss":
            continue  # a chance accuracy: the frontier sentences already speak to it
        for key, model in analysis.groups(of_task, group):
            parts = [
                _against_baseline(trials, level[x], x)
                for level, trials in analysis.groups(model, [x], sort=True)
            ]
            out.append(
                f"{group_label(key)}: test loss, geometric mean [95% interval] over seeds, "
                f"against the baseline ({base.what}): " + "; ".join(parts) + "."
            )
    return out


def _ratio_by_outcome(done: pd.DataFrame) -> list[str]:
    """The median initial signal-to-last ratio of trials that solved, against the rest."""
    ratio = done["signal_grad_ratio_init"].replace([np.inf, -np.inf], np.nan)
    solved = done["solved"].fillna(False).astype(bool)
    if not (ratio.notna().any() and solved.any() and (~solved).any()):
        return []
    a, b = ratio[solved].median(), ratio[~solved].median()
    return [
        f"Before training, the gradient reaching the signal input was a median "
        f"{format_number(a)} of the gradient at the last input in trials that went on to "
        f"solve their task ({int(solved.sum())}), against {format_number(b)} in those that "
        f"did not ({int((~solved).sum())})."
    ]


def _ratio_slopes(done: pd.DataFrame, x: str) -> list[str]:
    """The ratio before training depends only on the weights at init: one least-squares
    fit of its log10 against gap per setting that shapes them (clipping, the learning rate
    or the optimizer cannot matter yet)."""
    out = []
    shaping = [c for c in INIT_FIELDS if c == "arch" or analysis.swept(done, c)]
    for key, sub in analysis.groups(done, shaping):
        ratios = sub[[x, "signal_grad_ratio_init"]].dropna()
        ratios = ratios[ratios["signal_grad_ratio_init"] > 0]
        if ratios[x].nunique() < 3:
            continue
        slope = np.polyfit(ratios[x].astype(float), np.log10(ratios["signal_grad_ratio_init"]), 1)
        out.append(
            f"For {group_label(key)}, the initial signal-to-last gradient ratio changed by "
            f"{slope[0] * 10:+.2f} orders of magnitude per 10 steps of gap "
            f"(least-squares fit over {len(ratios)} trials)."
        )
    return out


def _gradient_sentences(done: pd.DataFrame, x: str) -> list[str]:
    out = (_ratio_by_outcome(done) + _ratio_slopes(done, x)) if x == "gap" else []
    if done["grad_norm_max"].notna().any():
        peak = done.loc[done["grad_norm_max"].idxmax()]
        model = group_label({c: peak[c] for c in analysis.frontier_groups(done)})
        out.append(
            f"The largest pre-clip gradient norm in any step was "
            f"{format_number(peak['grad_norm_max'])} ({model}, "
            f"{x} {format_value(x, peak[x])}, seed {peak['seed']}); the median trial's "
            f"largest was {format_number(done['grad_norm_max'].median())}."
        )
    return out


def _clip_sentences(done: pd.DataFrame) -> list[str]:
    if not analysis.swept(done, "clip_norm"):
        return []
    out = []
    for key, sub in analysis.groups(done, ["arch"], sort=True):
        off = sub[sub["clip_norm"].isna()]
        for clip, on in analysis.groups(sub[sub["clip_norm"].notna()], ["clip_norm"], sort=True):
            if off.empty or on.empty:
                continue
            solved_on = int(on["solved"].fillna(False).sum())
            solved_off = int(off["solved"].fillna(False).sum())
            out.append(
                f"{model_label(key['arch'], None)}: clipping at "
                f"{format_value('clip_norm', clip['clip_norm'])} fired in "
                f"{on['clip_fraction'].mean():.0%} of steps on average; solved "
                f"{solved_on}/{len(on)} trials with it and {solved_off}/{len(off)} without; "
                f"mean test accuracy {on['test_acc'].mean():.3f} against "
                f"{off['test_acc'].mean():.3f}."
            )
    return out


# --- axis importance, several experiments, the compared axis -----------------------------


def of_importance(ranked: pd.DataFrame) -> list[str]:
    """Which axes stand above the noise floor in out-of-sample importance, and which not."""
    if ranked.empty:
        return []
    floor = ranked[ranked["axis"].isin(["seed", "(noise)"])].iloc[0]
    above = ranked[ranked["above_floor"]]
    at = ranked[~ranked["above_floor"] & (ranked["axis"] != floor["axis"])]
    name = "the seed" if floor["axis"] == "seed" else "a column of random noise (one seed)"
    text = (
        f"Axis importance for test accuracy, on held-out folds, against {name} as the noise "
        f"floor ({format_number(floor['importance'])}): "
    )
    text += (
        "above it: "
        + ", ".join(
            f"{a} {format_number(v)}"
            for a, v in zip(above["axis"], above["importance"], strict=True)
        )
        if not above.empty
        else "no axis stands above it"
    )
    if not at.empty:
        text += "; at it (indistinguishable from noise): " + ", ".join(at["axis"])
    return [text + "."]


def of_experiments(contributed: dict[str, int], duplicates: dict[str, int]) -> list[str]:
    """For several experiments loaded together: the rows each gave, the repeats dropped."""
    if not contributed:
        return []
    rows = ", ".join(f"{name} {n}" for name, n in contributed.items())
    dropped = sum(duplicates.values())
    text = f"{len(contributed)} experiments, trials contributed: {rows}."
    if dropped:
        per = ", ".join(f"{name} {n}" for name, n in duplicates.items() if n)
        text += (
            f" {dropped} trial(s) repeated a config (seed included) of an earlier experiment "
            f"and were dropped, the first experiment's kept ({per})."
        )
    return [text]


def compared_axis_sentence(axis: str) -> str:
    """Why a report compares `axis` when nobody named it."""
    return (
        f"The sweep varies one setting besides the architecture, the dependency and the seed "
        f"({axis}), so this report compares its values."
    )


# --- a comparison (gradsweep.compare) ------------------------------------------------------


def _spans_zero(low: float, high: float) -> bool:
    return not (np.isfinite(low) and np.isfinite(high)) or (low <= 0 <= high)


def _detectable(rows: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows whose 95% interval of the difference `name` excludes 0."""
    if rows.empty:
        return rows
    bounds = zip(rows[f"{name}_low"], rows[f"{name}_high"], strict=True)
    spans = [_spans_zero(low, high) for low, high in bounds]
    return rows[~np.array(spans, dtype=bool)]


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
    hits = _detectable(rows, "test_acc_diff")
    if hits.empty:
        return ""
    parts = [
        f"{x} {int(r[x])} {r['test_acc_diff']:+.3f} [{r['test_acc_diff_low']:+.3f}, "
        f"{r['test_acc_diff_high']:+.3f}]"
        for _, r in hits.iterrows()
    ]
    return "; seed-matched test accuracy differs at " + ", ".join(parts)


def _value_sentence(head: str, fronts: tuple, rows: pd.DataFrame, x: str) -> str:
    """One value against the reference in one model: does the frontier move, and does the
    solved rate differ detectably at any level (`fronts`: the two frontier levels)?"""
    a, b = fronts
    fa = "none" if pd.isna(a) else f"{x} {int(a)}"
    fb = "none" if pd.isna(b) else f"{x} {int(b)}"
    seeds = int(rows["n"].max()) if len(rows) else 0
    decisive = _detectable(rows, "solved_diff")
    same = (pd.isna(a) and pd.isna(b)) or (not pd.isna(a) and not pd.isna(b) and a == b)
    if same and decisive.empty:
        return (
            f"{head}: the same frontier ({fa}); no detectable difference in the solved rate "
            f"at any {x} at {_seeds(seeds)}{_acc_note(rows, x)}."
        )
    if same:
        return f"{head}: the same frontier ({fa}), but {_cite(decisive, x)}."
    if decisive.empty:
        worst = rows.iloc[rows["solved_diff"].abs().argmax()] if len(rows) else None
        cite = f" (largest: {_cite_row(worst, x)})" if worst is not None else ""
        return (
            f"{head}: frontier {fb} against {fa}, but no detectable difference in the solved "
            f"rate at {_seeds(seeds)}{cite}; run more seeds to tell."
        )
    return f"{head}: the frontier moves from {fa} to {fb}; {_cite(decisive, x)}."


def of_comparison(
    axis: str,
    reference,
    others: list[str],
    tables: tuple[pd.DataFrame, pd.DataFrame],
    x: str,
) -> list[str]:
    """Per model (the `others` settings) and value of `axis`: whether it moves the frontier
    against `reference`, citing the levels where the solved rate differs detectably, or
    "no detectable difference at n seeds". `tables` are `compare`'s levels and frontiers."""
    levels, frontiers = tables
    out = []
    for setting, fronts in analysis.groups(frontiers, others):
        model_levels = analysis.select(levels, setting)
        is_reference = analysis.equals(fronts[axis], reference)
        reference_frontier = fronts[is_reference].iloc[0]["frontier"]
        for _, front in fronts[~is_reference].iterrows():
            value = front[axis]
            head = (
                f"{group_label(setting)}: {axis} {format_value(axis, value)} against "
                f"{format_value(axis, reference)}"
            )
            rows = model_levels[analysis.equals(model_levels[axis], value)]
            out.append(_value_sentence(head, (reference_frontier, front["frontier"]), rows, x))
    return out
