"""Figures from the tidy tables: DataFrame in, matplotlib Figure out (never shown here).

Heatmaps put the dependency (gap; seq_len for `sum_sign`) on x and the model (architecture,
with clipping when it was swept) on y, one panel per swept seq_len / hidden value. Colour
maps are perceptually uniform and colour-blind safe (viridis, cividis); lines use the
Okabe-Ito palette. Figures are made without pyplot, so nothing here touches matplotlib's
global backend or figure registry: a notebook's inline display keeps working.
"""

from __future__ import annotations

import math
import textwrap

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from gradsweep.analysis import (
    aggregate,
    baseline_of,
    dependency_axis,
    equals,
    facets,
    frontier_groups,
    model_columns,
    ordered_values,
    walk_up,
)
from gradsweep.config import ARCH_NAMES, format_value, group_label

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
ARCH_ORDER = list(ARCH_NAMES)  # the order `archs.ARCHS` declares them in

# What each heatmap metric is called on a colour bar, and whether it is drawn on a log scale.
METRICS = {
    "test_acc": ("test accuracy", False),
    "test_mse": ("test MSE", True),
    "best_val_acc": ("best validation accuracy", False),
    "grad_norm_first": ("mean gradient norm, first epoch", True),
    "grad_norm_max": ("max gradient norm (pre-clip)", True),
    "signal_grad_ratio": ("|dL/dx| at signal / at last input", True),
    "signal_grad_ratio_init": ("|dL/dx| signal / last, at init", True),
    "spectral_radius": ("spectral radius of recurrent kernel", False),
}


def _row_labels(keys: pd.DataFrame, rows: list[str]) -> list[str]:
    return [group_label({c: r[c] for c in rows}) for _, r in keys.iterrows()]


def _sorted_models(frame: pd.DataFrame, rows: list[str]) -> pd.DataFrame:
    order = {a: i for i, a in enumerate(ARCH_ORDER)}
    keys = frame[rows].drop_duplicates().copy()
    keys["_a"] = keys["arch"].map(lambda a: order.get(a, 99))
    sort = ["_a"] + (["_c"] if "clip_norm" in rows else [])
    if "clip_norm" in rows:
        keys["_c"] = keys["clip_norm"].astype("float64").fillna(-1.0)
    sort += [c for c in rows if c not in ("arch", "clip_norm")]
    return keys.sort_values(sort, kind="stable").drop(
        columns=[c for c in ("_a", "_c") if c in keys]
    )


def _wrap(text: str, inches: float, points: float = 10) -> str:
    """`text` broken into lines that fit `inches` at `points` size (about 0.55 em a glyph)."""
    per_line = max(12, int(inches * 72 / (0.55 * points)))
    return "\n".join(textwrap.wrap(text, per_line)) or text


def _subplots(nrows: int, ncols: int, size: tuple[float, float], **shared) -> tuple:
    """A Figure of its own (no pyplot) and its axes as a 2-D array."""
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **shared)


def heatmap(trials: pd.DataFrame, metric: str = "test_acc") -> Figure:
    """Mean over seeds of `metric` (geometric mean for log-scale metrics): dependency on x,
    model on y, a panel per facet value."""
    label, log = METRICS.get(metric, (metric, False))
    x = dependency_axis(trials)
    rows = model_columns(trials)
    panels = facets(trials)
    agg = aggregate(trials, [*panels, *rows, x], metrics=[metric])
    # A log-scale metric's seeds are averaged on its own scale: the geometric mean.
    values = agg[f"{metric}_{'gmean' if log else 'mean'}"].replace([np.inf, -np.inf], np.nan)
    if log:
        values = values.where(values > 0)
    agg = agg.assign(_v=values)
    panel_keys = [()] if not panels else list(agg[panels].drop_duplicates().itertuples(index=False))
    xs = sorted(agg[x].dropna().unique())
    models = _sorted_models(agg, rows)
    norm = _norm(agg["_v"], log, metric)
    # Room for the row labels and colour bar even with one column, and for the colour
    # bar's label (written along it) even with one row.
    labels = _row_labels(models, rows)
    label_inches = 0.08 * max(len(t) for t in labels)  # 10-point tick labels
    width = min(max(5.5, label_inches + 2.4 + 0.7 * len(xs)), 24.0)
    height = max(1.0 + 0.45 * len(models), 1.8)
    total = max(height * len(panel_keys) + 0.6, 3.2)
    fig, axes = _subplots(len(panel_keys), 1, (width, total))
    for ax, key in zip(axes[:, 0], panel_keys, strict=True):
        sub = agg
        for column, value in zip(panels, key, strict=True):
            sub = sub[sub[column] == value]
        grid = np.full((len(models), len(xs)), np.nan)
        for i, (_, model) in enumerate(models.iterrows()):
            match = np.ones(len(sub), bool)
            for column in rows:
                match &= equals(sub[column], model[column])
            for _, cell in sub[match].iterrows():
                grid[i, xs.index(cell[x])] = cell["_v"]
        image = ax.imshow(
            np.ma.masked_invalid(grid),
            aspect="auto",
            cmap="viridis",
            norm=norm,
            interpolation="nearest",
        )
        _annotate(ax, grid, norm, log)
        ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        ax.set_yticks(range(len(models)), labels)
        ax.set_xlabel(f"{x} (time steps)")
        title = ", ".join(f"{c} {v}" for c, v in zip(panels, key, strict=True))
        missing = "; grey: not run or no value" if np.isnan(grid).any() else ""
        centre = "geometric mean" if log else "mean"
        heading = f"{label}{' — ' + title if title else ''} ({centre} over seeds{missing})"
        ax.set_title(_wrap(heading, max(2.5, width - label_inches - 1.8)), fontsize=10)
        ax.set_facecolor("#dddddd")  # missing cells read as grey, not as a colour
    bar_label = label + (" (log scale)" if log else "")
    fig.colorbar(image, ax=axes[:, 0].tolist(), label=_wrap(bar_label, total - 0.4))
    return fig


def _norm(values: pd.Series, log: bool, metric: str):
    finite = values.dropna()
    if log:
        if finite.empty:
            return LogNorm(1e-3, 1)
        low, high = float(finite.min()), float(finite.max())
        return LogNorm(low, high if high > low else low * 10)
    if metric.endswith("acc"):
        return Normalize(0.5, 1.0)  # chance to perfect
    if finite.empty:
        return Normalize(0, 1)
    return Normalize(float(finite.min()), float(finite.max()))


def _annotate(ax, grid: np.ndarray, norm, log: bool) -> None:
    """Cell text: the value, in a colour that reads on its background; small when crowded."""
    rows, cols = grid.shape
    size = 8 if cols <= 12 else 6.5 if cols <= 20 else 5
    cmap = matplotlib.colormaps["viridis"]
    for i in range(rows):
        for j in range(cols):
            value = grid[i, j]
            if not np.isfinite(value):
                continue
            text = _short_number(value, log)
            shade = cmap(norm(value))
            luminance = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2]
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=size,
                color="black" if luminance > 0.5 else "white",
            )


def _short_number(value: float, log: bool) -> str:
    if log:  # two significant figures
        return f"{value:.1e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{value:.2f}"


def gradient_through_time(profiles: pd.DataFrame, trials: pd.DataFrame, epoch: int = 0) -> Figure:
    """Mean |dL/dx_t| by steps back (y) and gap (x), one panel per architecture, log colour.

    `epoch=0` is before training (the measured counterpart of the notebook's "theoretical
    gradient decay"); -1 takes each trial's last epoch.
    """
    x = dependency_axis(trials)
    prof = profiles
    if epoch == -1:
        last = prof.groupby("trial_id")["epoch"].transform("max")
        prof = prof[prof["epoch"] == last]
    else:
        prof = prof[prof["epoch"] == epoch]
    merged = prof.merge(trials[["trial_id", "arch", x]], on="trial_id")
    archs = [a for a in ARCH_ORDER if a in set(merged["arch"])]
    if merged.empty or not archs:
        return _empty_figure("no gradient profiles recorded (diagnostics off?)")
    table = merged.groupby(["arch", x, "step_back"])["grad"].mean().reset_index()
    positive = table["grad"][table["grad"] > 0]
    norm = LogNorm(float(positive.min()), float(positive.max())) if len(positive) else None
    xs = sorted(table[x].unique())
    depth = int(table["step_back"].max()) + 1
    fig, axes = _subplots(1, len(archs), (min(4.0 * len(archs), 16), 4.2), sharey=True)
    image = None
    for ax, arch in zip(axes[0], archs, strict=True):
        grid = np.full((depth, len(xs)), np.nan)
        sub = table[table["arch"] == arch]
        grid[sub["step_back"].to_numpy(), [xs.index(v) for v in sub[x]]] = sub["grad"]
        grid[grid <= 0] = np.nan
        image = ax.imshow(
            np.ma.masked_invalid(grid),
            aspect="auto",
            origin="lower",
            cmap="cividis",
            norm=norm,
            interpolation="nearest",
        )
        step = max(1, math.ceil(len(xs) / 12))
        ax.set_xticks(range(0, len(xs), step), [str(v) for v in xs[::step]])
        ax.set_xlabel(f"{x} (time steps)")
        ax.set_title(ARCH_NAMES.get(arch, arch), fontsize=10)
        ax.set_facecolor("#dddddd")
        if x == "gap":  # the signal's own distance back: where the gradient must arrive
            ax.scatter(
                range(len(xs)),
                xs,
                color="#D55E00",
                marker="_",
                s=300,
                lw=2,
                label="signal position",
                zorder=3,
            )
            ax.legend(loc="upper left", fontsize=8, frameon=False, labelcolor="#D55E00")
    axes[0, 0].set_ylabel("steps back from the last input")
    when = "before training" if epoch == 0 else "after the last epoch"
    fig.suptitle(
        _wrap(
            f"Gradient reaching each input, mean |dL/dx_t| over the probe batch, {when}",
            fig.get_figwidth() - 0.3,
        ),
        fontsize=10,
    )
    fig.colorbar(image, ax=axes[0].tolist(), label="|dL/dx_t| (log scale)")
    return fig


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
        return _empty_figure("no epochs recorded")
    models = _sorted_models(merged, group).reset_index(drop=True)
    levels = sorted(merged[x].dropna().unique())
    colours = {v: OKABE_ITO[i % len(OKABE_ITO)] for i, v in enumerate(levels)}
    rows = [("val_acc", "validation score"), ("val_loss", "validation loss (log)"),
            ("grad_norm_mean", "mean gradient norm (log)")]  # fmt: skip
    ncols = len(models)
    width = min(4.2 * ncols, 20)
    fig, axes = _subplots(len(rows), ncols, (width, 8.4), sharex=True)
    for col, (_, model) in enumerate(models.iterrows()):
        match = np.ones(len(merged), bool)
        for column in group:
            match &= equals(merged[column], model[column])
        sub = merged[match]
        for row, (metric, ylabel) in enumerate(rows):
            ax = axes[row, col]
            for level in levels:
                runs = sub[sub[x] == level]
                if runs.empty:
                    continue
                for _, run in runs.groupby("trial_id"):
                    ax.plot(
                        run["samples_seen"], run[metric], color=colours[level], lw=0.6, alpha=0.35
                    )
                mean = runs.groupby("samples_seen")[metric].mean()
                ax.plot(
                    mean.index, mean.to_numpy(), color=colours[level], lw=2, label=f"{x} {level}"
                )
                _baseline(ax, runs.iloc[0], metric, colours[level])
            if metric != "val_acc":
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel(ylabel)
            if row == len(rows) - 1:
                ax.set_xlabel("training sequences seen")
            if row == 0:
                title = group_label({c: model[c] for c in group})
                ax.set_title(_wrap(title, width / ncols - 0.5, 9), fontsize=9)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 8),
               fontsize=8, frameon=False)  # fmt: skip
    return fig


def _baseline(ax, trial: pd.Series, metric: str, colour: str) -> None:
    """The task's no-learning baseline on the panel of its metric, as a dashed line."""
    base = baseline_of(trial)
    if base is not None and (base.metric, metric) in (("acc", "val_acc"), ("loss", "val_loss")):
        ax.axhline(base.value, color=colour, ls="--", lw=1, alpha=0.8)


def frontier(trials: pd.DataFrame) -> Figure:
    """Solved rate against dependency with 95% Wilson bands; the frontier (largest dependency
    most seeds solved) marked per model."""
    x = dependency_axis(trials)
    group = frontier_groups(trials)
    agg = aggregate(trials, [*group, x], metrics=[])
    models = _sorted_models(agg, model_columns(trials)).reset_index(drop=True)
    archs = list(dict.fromkeys(models["arch"]))
    fig, axes = _subplots(1, 1, (8, 4.2))
    ax = axes[0, 0]
    for i, (key, sub) in enumerate(agg.groupby(group, dropna=False, sort=False)):
        key = key if isinstance(key, tuple) else (key,)
        values = dict(zip(group, key, strict=True))
        clip = values.get("clip_norm") if "clip_norm" in group else None
        label = group_label(values)
        # colour = architecture, line style = clipping; a small shift keeps equal lines visible
        colour = OKABE_ITO[archs.index(values["arch"]) % len(OKABE_ITO)]
        style = ":" if clip is not None and pd.isna(clip) else "-" if clip is None else "--"
        sub = sub.sort_values(x)
        shift = 1 + 0.012 * (i - len(agg) / 2 / max(1, len(sub)))
        xs = sub[x].astype(float) * shift
        ax.plot(xs, sub["solved_rate"], marker="o", ms=4, color=colour, ls=style, label=label)
        ax.fill_between(xs, sub["solved_ci_low"], sub["solved_ci_high"], color=colour, alpha=0.06)
        at, _ = walk_up(sub, x)
        if at is not None:
            ax.plot(
                float(sub[x].iloc[at]) * shift,
                1.02,
                marker="v",
                color=colour,
                ms=7,
                clip_on=False,
            )
    ticks = sorted(agg[x].dropna().unique())
    if len(ticks) > 1 and ticks[0] > 0 and ticks[-1] / ticks[0] >= 8:
        ax.set_xscale("log")
    ax.set_xticks([float(t) for t in ticks], [str(t) for t in ticks], minor=False)
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
        return _empty_figure("fewer than two swept axes: nothing to rank")
    ranked = ranked.sort_values("importance")
    floor = ranked[ranked["axis"].isin(["seed", "(noise)"])]
    colours = [
        "#999999" if a in ("seed", "(noise)") else OKABE_ITO[0] if above else "#a6c8e0"
        for a, above in zip(ranked["axis"], ranked["above_floor"], strict=True)
    ]
    fig, axes = _subplots(1, 1, (6.5, 1.0 + 0.45 * len(ranked)))
    ax = axes[0, 0]
    ax.barh(ranked["axis"], ranked["importance"], xerr=ranked["std"], color=colours)
    if not floor.empty:
        ax.axvline(float(floor["importance"].iloc[0]), color="#555555", ls="--", lw=1)
    ax.set_xlabel("permutation importance on held-out folds (rise in squared error when shuffled)")
    ax.set_title(
        _wrap("Which swept axes matter for test accuracy (dashed: the seed's noise floor; "
              "dark bars stand above it)", 5.5),
        fontsize=10,
    )  # fmt: skip
    ax.grid(axis="x", alpha=0.3)
    return fig


def _empty_figure(message: str) -> Figure:
    fig, axes = _subplots(1, 1, (6, 1.5))
    ax = axes[0, 0]
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return fig


def save(fig: Figure, stem: str) -> list[str]:
    """Write `stem.png` and `stem.svg`."""
    paths = [f"{stem}.png", f"{stem}.svg"]
    fig.savefig(paths[0], dpi=130)
    fig.savefig(paths[1])
    return paths


def _compare_panels(trials: pd.DataFrame, axis: str):
    """(other-setting columns, their distinct rows, dependency levels, axis values, colours)."""
    x = dependency_axis(trials)
    others = [c for c in frontier_groups(trials) if c != axis]
    models = _sorted_models(trials, others).reset_index(drop=True)
    levels = sorted(trials[x].dropna().unique())
    values = ordered_values(trials[axis])
    colours = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(values))]
    return x, others, models, levels, values, colours


def _panel_grid(rows: int, cols: int) -> tuple:
    return _subplots(rows, cols, (min(2.9 * cols + 1.6, 24), 2.3 * rows + 1.0))


def compare_curves(epochs: pd.DataFrame, trials: pd.DataFrame, axis: str, metric: str) -> Figure:
    """`metric` by training sequences seen, a panel per model (the other settings) and
    dependency level, one colour per value of `axis`: seeds thin, their mean thick."""
    if metric not in epochs:
        return _empty_figure(f"no {metric} recorded")
    return _by_value(epochs, trials, axis, ("samples_seen", metric), geometric=False,
                     labels=(metric, "training sequences seen"))  # fmt: skip


def final_profiles(profiles: pd.DataFrame, trials: pd.DataFrame, axis: str) -> Figure:
    """The gradient reaching each input after training (each trial's last epoch), by steps
    back from the last input, a panel per model and dependency level, one colour per value
    of `axis`: seeds thin, their geometric mean thick."""
    if profiles.empty:
        return _empty_figure("no gradient profiles recorded")
    last = profiles[profiles["epoch"] == profiles.groupby("trial_id")["epoch"].transform("max")]
    last = last[(last["epoch"] > 0) & (last["grad"] > 0)]
    return _by_value(last, trials, axis, ("step_back", "grad"), geometric=True,
                     labels=("|dL/dx_t|", "steps back from the last input"))  # fmt: skip


def _by_value(rows, trials, axis, columns, geometric: bool, labels) -> Figure:
    """`rows` (per trial: x and y columns) drawn a panel per model and dependency level,
    one colour per value of `axis`; each seed thin, their (geometric) mean thick."""
    x, others, models, levels, values, colours = _compare_panels(trials, axis)
    along, measured = columns
    merged = rows.merge(trials[list(dict.fromkeys(["trial_id", axis, x, *others]))],
                        on="trial_id")  # fmt: skip
    if merged.empty:
        return _empty_figure(f"no {measured} recorded")
    fig, axes = _panel_grid(len(models), len(levels))
    for i, (_, model) in enumerate(models.iterrows()):
        match = np.ones(len(merged), bool)
        for column in others:
            match &= equals(merged[column], model[column])
        for j, level in enumerate(levels):
            ax = axes[i, j]
            at = merged[match & (merged[x] == level).fillna(False).to_numpy()]
            for value, colour in zip(values, colours, strict=True):
                runs = at[equals(at[axis], value)]
                for _, run in runs.groupby("trial_id"):
                    ax.plot(run[along], run[measured], color=colour, lw=0.6, alpha=0.35)
                if runs.empty:
                    continue
                ys = runs[measured].astype(float)
                centre = (
                    np.exp(np.log(ys).groupby(runs[along]).mean())
                    if geometric
                    else ys.groupby(runs[along]).mean()
                )
                ax.plot(centre.index, centre.to_numpy(), color=colour, lw=2,
                        label=f"{axis} {format_value(axis, value)}")  # fmt: skip
            if geometric:
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
            if i == 0:
                ax.set_title(f"{x} {level}", fontsize=9)
            if j == 0:
                label = group_label({c: model[c] for c in others})
                ax.set_ylabel(_wrap(f"{label}\n{labels[0]}", 1.9, 8), fontsize=8)
    handles, names = [], []
    for ax in axes.flat:
        handles, names = ax.get_legend_handles_labels()
        if handles:
            break
    fig.legend(handles, names, loc="outside upper center", ncols=max(1, len(values)),
               fontsize=8, frameon=False)  # fmt: skip
    fig.supxlabel(labels[1], fontsize=9)
    return fig
