"""Heatmaps: a metric over model and dependency level, and the gradient through time.

Heatmaps put the dependency (gap; seq_len for `sum_sign`) on x and the model (architecture,
with every other swept setting) on y, one panel per facet value (hidden, or seq_len when
not a function of gap). Labels and log scales come from the metrics table.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from gradsweep.analysis import aggregate, dependency_axis, facets, groups, model_columns, select
from gradsweep.config import ARCH_NAMES, format_value
from gradsweep.metrics import metric as metric_row
from gradsweep.plots.canvas import (
    ARCH_ORDER,
    empty_figure,
    row_labels,
    sorted_models,
    subplots,
    wrap,
)


def _cell_values(trials: pd.DataFrame, metric: str, log: bool, by: list[str]) -> pd.DataFrame:
    """`aggregate` over seeds with the drawn value in `_v`: the mean, or for a log-scale
    metric the geometric mean (its seeds averaged on its own scale), NaN where not finite."""
    agg = aggregate(trials, by, metrics=[metric])
    values = agg[f"{metric}_{'gmean' if log else 'mean'}"].replace([np.inf, -np.inf], np.nan)
    return agg.assign(_v=values.where(values > 0) if log else values)


def _grid(cells: pd.DataFrame, models: pd.DataFrame, xs: list, x: str) -> np.ndarray:
    """models x levels of `_v`, NaN where a model did not run a level."""
    grid = np.full((len(models), len(xs)), np.nan)
    for i, (_, model) in enumerate(models.iterrows()):
        for _, cell in select(cells, model.to_dict()).iterrows():
            grid[i, xs.index(cell[x])] = cell["_v"]
    return grid


def heatmap(trials: pd.DataFrame, metric: str = "test_acc") -> Figure:
    """Mean over seeds of `metric` (geometric mean for log-scale metrics): dependency on x,
    model on y, a panel per facet value."""
    shown = metric_row(metric)
    x, rows, panels = dependency_axis(trials), model_columns(trials), facets(trials)
    agg = _cell_values(trials, metric, shown.log, [*panels, *rows, x])
    panel_cells = list(groups(agg, panels))
    xs = sorted(agg[x].dropna().unique())
    models = sorted_models(agg, rows)
    norm = _norm(agg["_v"], shown.log, metric)
    # Room for the row labels and colour bar even with one column, and for the colour
    # bar's label (written along it) even with one row.
    labels = row_labels(models, rows)
    label_inches = 0.08 * max(len(t) for t in labels)  # 10-point tick labels
    width = min(max(5.5, label_inches + 2.4 + 0.7 * len(xs)), 24.0)
    total = max(max(1.0 + 0.45 * len(models), 1.8) * len(panel_cells) + 0.6, 3.2)
    fig, axes = subplots(len(panel_cells), 1, (width, total))
    for ax, (key, cells) in zip(axes[:, 0], panel_cells, strict=True):
        grid = _grid(cells, models, xs, x)
        image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap="viridis", norm=norm,
                          interpolation="nearest")  # fmt: skip
        _annotate(ax, grid, norm, shown.log)
        ax.set_xticks(range(len(xs)), [format_value(x, v) for v in xs])
        ax.set_yticks(range(len(models)), labels)
        ax.set_xlabel(f"{x} (time steps)")
        title = ", ".join(f"{c} {format_value(c, v)}" for c, v in key.items())
        missing = "; grey: not run or no value" if np.isnan(grid).any() else ""
        centre = "geometric mean" if shown.log else "mean"
        heading = f"{shown.label}{' — ' + title if title else ''} ({centre} over seeds{missing})"
        ax.set_title(wrap(heading, max(2.5, width - label_inches - 1.8)), fontsize=10)
        ax.set_facecolor("#dddddd")  # missing cells read as grey, not as a colour
    fig.colorbar(image, ax=axes[:, 0].tolist(), label=wrap(shown.axis_label, total - 0.4))
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
            shade = cmap(norm(value))
            luminance = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2]
            ax.text(j, i, _short_number(value, log), ha="center", va="center", fontsize=size,
                    color="black" if luminance > 0.5 else "white")  # fmt: skip


def _short_number(value: float, log: bool) -> str:
    """A cell's text, short enough for a crowded grid: two significant figures."""
    if log:
        return f"{value:.1e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{value:.2f}"


def _profiles_at(profiles: pd.DataFrame, epoch: int) -> pd.DataFrame:
    """The profile rows of `epoch`; -1 takes each trial's last epoch."""
    if epoch == -1:
        return profiles[profiles["epoch"] == profiles.groupby("trial_id")["epoch"].transform("max")]
    return profiles[profiles["epoch"] == epoch]


def _profile_panel(ax, table: pd.DataFrame, xs: list, depth: int, norm, x: str):
    """One architecture's mean |dL/dx_t|, steps back (y) by level (x); the signal's own
    distance back marked when the dependency is gap (where the gradient must arrive)."""
    grid = np.full((depth, len(xs)), np.nan)
    grid[table["step_back"].to_numpy(), [xs.index(v) for v in table[x]]] = table["grad"]
    grid[grid <= 0] = np.nan
    image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", origin="lower", cmap="cividis",
                      norm=norm, interpolation="nearest")  # fmt: skip
    step = max(1, math.ceil(len(xs) / 12))
    ax.set_xticks(range(0, len(xs), step), [format_value(x, v) for v in xs[::step]])
    ax.set_xlabel(f"{x} (time steps)")
    ax.set_facecolor("#dddddd")
    if x == "gap":
        ax.scatter(range(len(xs)), xs, color="#D55E00", marker="_", s=300, lw=2,
                   label="signal position", zorder=3)  # fmt: skip
        ax.legend(loc="upper left", fontsize=8, frameon=False, labelcolor="#D55E00")
    return image


def gradient_through_time(profiles: pd.DataFrame, trials: pd.DataFrame, epoch: int = 0) -> Figure:
    """Mean |dL/dx_t| by steps back (y) and gap (x), one panel per architecture, log colour.

    `epoch=0` is before training (the measured counterpart of the notebook's "theoretical
    gradient decay"); -1 takes each trial's last epoch.
    """
    x = dependency_axis(trials)
    merged = _profiles_at(profiles, epoch).merge(trials[["trial_id", "arch", x]], on="trial_id")
    present = set(merged["arch"])
    archs = [a for a in ARCH_ORDER if a in present] + sorted(present - set(ARCH_ORDER))
    if merged.empty or not archs:
        return empty_figure("no gradient profiles recorded (diagnostics off?)")
    table = merged.groupby(["arch", x, "step_back"])["grad"].mean().reset_index()
    positive = table["grad"][table["grad"] > 0]
    norm = LogNorm(float(positive.min()), float(positive.max())) if len(positive) else None
    xs = sorted(table[x].unique())
    depth = int(table["step_back"].max()) + 1
    fig, axes = subplots(1, len(archs), (min(4.0 * len(archs), 16), 4.2), sharey=True)
    for ax, arch in zip(axes[0], archs, strict=True):
        image = _profile_panel(ax, table[table["arch"] == arch], xs, depth, norm, x)
        ax.set_title(ARCH_NAMES.get(arch, arch), fontsize=10)
    axes[0, 0].set_ylabel("steps back from the last input")
    when = "before training" if epoch == 0 else "after the last epoch"
    title = f"Gradient reaching each input, mean |dL/dx_t| over the probe batch, {when}"
    fig.suptitle(wrap(title, fig.get_figwidth() - 0.3), fontsize=10)
    fig.colorbar(image, ax=axes[0].tolist(), label="|dL/dx_t| (log scale)")
    return fig
