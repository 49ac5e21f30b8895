"""Line and bar figures: learning curves, the frontier, axis importance, and the curves that
set the values of one setting against each other (`report --compare`).

Thin lines are seeds, thick lines their (geometric) mean; colours are the Okabe-Ito palette.
Axis labels and log scales come from the metrics table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from gradsweep.analysis import (
    aggregate,
    baseline_of,
    dependency_axis,
    frontier_groups,
    groups,
    model_columns,
    ordered_values,
    select,
    walk_up,
)
from gradsweep.config import format_value, group_label
from gradsweep.metrics import metric as metric_row
from gradsweep.plots.canvas import (
    OKABE_ITO,
    empty_figure,
    panel_grid,
    sorted_models,
    subplots,
    wrap,
)

# The learning curves' rows, top to bottom.
CURVES = ("val_acc", "val_loss", "grad_norm_mean")


def _seed_lines(ax, runs: pd.DataFrame, columns: tuple[str, str], colour: str, label: str,
                geometric: bool = False) -> None:  # fmt: skip
    """Each trial of `runs` as a thin line of `columns` (x, y), their mean a thick one (the
    geometric mean when `geometric`)."""
    along, measured = columns
    for _, run in runs.groupby("trial_id"):
        ax.plot(run[along], run[measured], color=colour, lw=0.6, alpha=0.35)
    ys = runs[measured].astype(float)
    centre = (np.exp(np.log(ys).groupby(runs[along]).mean()) if geometric
              else ys.groupby(runs[along]).mean())  # fmt: skip
    ax.plot(centre.index, centre.to_numpy(), color=colour, lw=2, label=label)


def _baseline(ax, trial: pd.Series, metric: str, colour: str) -> None:
    """The task's no-learning baseline on the panel of its metric, as a dashed line."""
    base = baseline_of(trial)
    if base is not None and (base.metric, metric) in (("acc", "val_acc"), ("loss", "val_loss")):
        ax.axhline(base.value, color=colour, ls="--", lw=1, alpha=0.8)


def learning_curves(epochs: pd.DataFrame, trials: pd.DataFrame) -> Figure:
    """Validation accuracy, validation loss and gradient norm by samples seen, a column
    per model; thin lines are seeds, thick lines their mean, one colour per gap (or
    seq_len). The task's baseline (what a model that learned nothing scores: chance, or
    the adding and copy tasks' memoryless loss) is a dashed line in its level's colour."""
    x = dependency_axis(trials)
    group = model_columns(trials)
    columns = list(dict.fromkeys(["trial_id", "task", *group, x, "seed", "gap", "seq_len"]))
    merged = epochs.merge(trials[columns], on="trial_id")
    if merged.empty:
        return empty_figure("no epochs recorded")
    models = sorted_models(merged, group).reset_index(drop=True)
    levels = sorted(merged[x].dropna().unique())
    colours = {v: OKABE_ITO[i % len(OKABE_ITO)] for i, v in enumerate(levels)}
    width = min(4.2 * len(models), 20)
    fig, axes = subplots(len(CURVES), len(models), (width, 8.4), sharex=True)
    for col, (_, model) in enumerate(models.iterrows()):
        sub = select(merged, model.to_dict())
        for row, metric in enumerate(CURVES):
            ax = axes[row, col]
            for level in levels:
                runs = sub[sub[x] == level]
                if not runs.empty:
                    label = f"{x} {format_value(x, level)}"
                    _seed_lines(ax, runs, ("samples_seen", metric), colours[level], label)
                    _baseline(ax, runs.iloc[0], metric, colours[level])
            ax.set_yscale("log" if metric_row(metric).log else "linear")
            ax.grid(alpha=0.3)
        axes[0, col].set_title(wrap(group_label(model.to_dict()), width / len(models) - 0.5, 9),
                               fontsize=9)  # fmt: skip
        axes[-1, col].set_xlabel("training sequences seen")
    for row, metric in enumerate(CURVES):
        axes[row, 0].set_ylabel(metric_row(metric).axis_label)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 8),
               fontsize=8, frameon=False)  # fmt: skip
    return fig


def _frontier_line(ax, sub: pd.DataFrame, key: dict, x: str, look: tuple[str, str, float]):
    """One model's solved rate by level with its Wilson band, ▼ at its frontier; `look` is
    (colour, line style, the small shift that keeps equal lines visible)."""
    colour, style, shift = look
    sub = sub.sort_values(x)
    xs = sub[x].astype(float) * shift
    ax.plot(xs, sub["solved_rate"], marker="o", ms=4, color=colour, ls=style,
            label=group_label(key))  # fmt: skip
    ax.fill_between(xs, sub["solved_ci_low"], sub["solved_ci_high"], color=colour, alpha=0.06)
    at, _ = walk_up(sub, x)
    if at is not None:
        ax.plot(float(sub[x].iloc[at]) * shift, 1.02, marker="v", color=colour, ms=7,
                clip_on=False)  # fmt: skip


def frontier(trials: pd.DataFrame) -> Figure:
    """Solved rate against dependency with 95% Wilson bands; the frontier (largest dependency
    most seeds solved) marked per model."""
    x = dependency_axis(trials)
    group = frontier_groups(trials)
    agg = aggregate(trials, [*group, x], metrics=[])
    archs = list(dict.fromkeys(sorted_models(agg, model_columns(trials))["arch"]))
    fig, axes = subplots(1, 1, (8, 4.2))
    ax = axes[0, 0]
    for i, (key, sub) in enumerate(groups(agg, group)):
        # colour = architecture, line style = clipping (dotted: off; dashed: a clip)
        clip = key.get("clip_norm") if "clip_norm" in group else None
        colour = OKABE_ITO[archs.index(key["arch"]) % len(OKABE_ITO)]
        style = ":" if clip is not None and pd.isna(clip) else "-" if clip is None else "--"
        shift = 1 + 0.012 * (i - len(agg) / 2 / max(1, len(sub)))
        _frontier_line(ax, sub, key, x, (colour, style, shift))
    ticks = sorted(agg[x].dropna().unique())
    if len(ticks) > 1 and ticks[0] > 0 and ticks[-1] / ticks[0] >= 8:
        ax.set_xscale("log")
    ax.set_xticks([float(t) for t in ticks], [format_value(x, t) for t in ticks], minor=False)
    ax.minorticks_off()
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel(f"{x} (time steps)")
    ax.set_ylabel("share of seeds solved (95% Wilson interval)")
    ax.set_title(
        "Trainability frontier (▼ = last level before the first that most seeds failed)",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    fig.legend(fontsize=8, frameon=False, loc="outside right upper")
    return fig


def importance(ranked: pd.DataFrame) -> Figure:
    """Out-of-sample permutation importance of the swept axes for test accuracy, ranked;
    the noise floor (the seed, or a column of noise) grey with a dashed line, axes that
    stand above it in colour, the rest pale."""
    if ranked.empty:
        return empty_figure("fewer than two swept axes: nothing to rank")
    ranked = ranked.sort_values("importance")
    floor = ranked[ranked["axis"].isin(["seed", "(noise)"])]
    colours = [
        "#999999" if a in ("seed", "(noise)") else OKABE_ITO[0] if above else "#a6c8e0"
        for a, above in zip(ranked["axis"], ranked["above_floor"], strict=True)
    ]
    fig, axes = subplots(1, 1, (6.5, 1.0 + 0.45 * len(ranked)))
    ax = axes[0, 0]
    ax.barh(ranked["axis"], ranked["importance"], xerr=ranked["std"], color=colours)
    if not floor.empty:
        ax.axvline(float(floor["importance"].iloc[0]), color="#555555", ls="--", lw=1)
    ax.set_xlabel("permutation importance on held-out folds (rise in squared error when shuffled)")
    ax.set_title(
        wrap("Which swept axes matter for test accuracy (dashed: the seed's noise floor; "
             "dark bars stand above it)", 5.5),
        fontsize=10,
    )  # fmt: skip
    ax.grid(axis="x", alpha=0.3)
    return fig


def compare_curves(epochs: pd.DataFrame, trials: pd.DataFrame, axis: str, metric: str) -> Figure:
    """`metric` by training sequences seen, a panel per model (the other settings) and
    dependency level, one colour per value of `axis`: seeds thin, their mean thick."""
    if metric not in epochs:
        return empty_figure(f"no {metric} recorded")
    return _by_value(epochs, trials, axis, ("samples_seen", metric), geometric=False,
                     labels=(metric_row(metric).label, "training sequences seen"))  # fmt: skip


def final_profiles(profiles: pd.DataFrame, trials: pd.DataFrame, axis: str) -> Figure:
    """The gradient reaching each input after training (each trial's last epoch), by steps
    back from the last input, a panel per model and dependency level, one colour per value
    of `axis`: seeds thin, their geometric mean thick."""
    if profiles.empty:
        return empty_figure("no gradient profiles recorded")
    last = profiles[profiles["epoch"] == profiles.groupby("trial_id")["epoch"].transform("max")]
    last = last[(last["epoch"] > 0) & (last["grad"] > 0)]
    return _by_value(last, trials, axis, ("step_back", "grad"), geometric=True,
                     labels=("|dL/dx_t|", "steps back from the last input"))  # fmt: skip


def _by_value(rows, trials, axis, columns, geometric: bool, labels) -> Figure:
    """`rows` (per trial: x and y columns) drawn a panel per model and dependency level,
    one colour per value of `axis`; each seed thin, their (geometric) mean thick."""
    x = dependency_axis(trials)
    others = [c for c in frontier_groups(trials) if c != axis]
    models = sorted_models(trials, others).reset_index(drop=True)
    levels = sorted(trials[x].dropna().unique())
    values = ordered_values(trials[axis])
    merged = rows.merge(trials[list(dict.fromkeys(["trial_id", axis, x, *others]))],
                        on="trial_id")  # fmt: skip
    if merged.empty:
        return empty_figure(f"no {columns[1]} recorded")
    fig, axes = panel_grid(len(models), len(levels))
    for i, (_, model) in enumerate(models.iterrows()):
        of_model = select(merged, model.to_dict())
        for j, level in enumerate(levels):
            ax = axes[i, j]
            at = of_model[(of_model[x] == level).fillna(False).to_numpy()]
            for k, value in enumerate(values):
                runs = select(at, {axis: value})
                if not runs.empty:
                    _seed_lines(ax, runs, columns, OKABE_ITO[k % len(OKABE_ITO)],
                                f"{axis} {format_value(axis, value)}", geometric)  # fmt: skip
            ax.set_yscale("log" if geometric else "linear")
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
        label = group_label(model.to_dict())
        axes[i, 0].set_ylabel(wrap(f"{label}\n{labels[0]}", 1.9, 8), fontsize=8)
    for j, level in enumerate(levels):
        axes[0, j].set_title(f"{x} {format_value(x, level)}", fontsize=9)
    handles, names = next(
        (found for found in (ax.get_legend_handles_labels() for ax in axes.flat) if found[0]),
        ([], []),
    )
    fig.legend(handles, names, loc="outside upper center", ncols=max(1, len(values)),
               fontsize=8, frameon=False)  # fmt: skip
    fig.supxlabel(labels[1], fontsize=9)
    return fig
