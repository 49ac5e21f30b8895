"""Measurements before learning against a swept numeric setting (recurrent_gain, lr, ...).

The classic picture (Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013,
Section 2) is a curve in the recurrent matrix's scale: below a spectral radius of 1 the
gradient reaching inputs far back vanishes, above it the gradient norm can explode. This
figure draws that curve from the trials: the first-epoch gradient norm and the initial
signal-to-last gradient ratio against the setting, one line per dependency level and per
value of the other swept settings (clipping off or on, the architecture ...).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from gradsweep.analysis import aggregate, dependency_axis, frontier_groups, groups, select
from gradsweep.config import format_value, group_label
from gradsweep.metrics import metric as metric_row
from gradsweep.plots.canvas import OKABE_ITO, empty_figure, sorted_models, subplots

# The panels, left to right: how large the gradient is, and how much of it reaches the signal.
SETTING_METRICS = ("grad_norm_first", "signal_grad_ratio_init")
_STYLES = ("-", "--", ":", "-.")


def numeric_settings(trials: pd.DataFrame) -> list[str]:
    """The swept settings a curve can run along: numeric config columns with a value in
    every trial (so not clipping with an `off`), other than the dependency axis, the seed
    and a seq_len that follows from gap (`analysis.frontier_groups` leaves those out), that
    take two or more values within some model of the other settings (an lr that only
    follows the architecture draws no curve)."""
    group = frontier_groups(trials)
    out = []
    for column in group:
        values = trials[column]
        if column == "arch" or is_bool_dtype(values) or not is_numeric_dtype(values):
            continue
        others = [c for c in group if c != column]
        within = trials.groupby(others, dropna=False)[column].nunique()
        if values.notna().all() and within.max() > 1:
            out.append(column)
    return out


def setting_means(trials: pd.DataFrame, axis: str) -> pd.DataFrame:
    """One row per value of `axis`, dependency level and combination of the other swept
    settings, with each of `SETTING_METRICS` (those measured) averaged over the seeds: the
    geometric mean for a log-scale metric (metrics table; NaN unless every seed's value is
    positive and finite, `intervals.geometric_mean`), else the mean."""
    x = dependency_axis(trials)
    others = [c for c in frontier_groups(trials) if c != axis]
    measured = [m for m in SETTING_METRICS if m in trials]
    agg = aggregate(trials, [*others, x, axis], metrics=measured)
    centre = {f"{m}_{'gmean' if metric_row(m).log else 'mean'}": m for m in measured}
    return agg[[*others, x, axis, *centre]].rename(columns=centre)


def line_label(key: dict, x: str) -> str:
    """A line's legend entry: its dependency level, then the other settings' label."""
    level = f"{x} {format_value(x, key[x])}"
    rest = {c: v for c, v in key.items() if c != x}
    return f"{level} · {group_label(rest)}" if rest else level


def against_setting(trials: pd.DataFrame, axis: str) -> Figure:
    """Two panels, `SETTING_METRICS` (geometric means over seeds) against `axis`: a colour
    per dependency level, a line style per combination of the other swept settings (each
    line labelled by `line_label`); y on the metrics table's scale, x on a log scale when
    `axis` spans a factor of 8 or more."""
    means = setting_means(trials, axis)
    if means.empty:
        return empty_figure(f"no finished trials to draw against {axis}")
    x = dependency_axis(trials)
    others = [c for c in frontier_groups(trials) if c != axis]
    styles = sorted_models(means, others).reset_index(drop=True)
    levels = sorted(means[x].dropna().unique())
    fig, axes = subplots(1, len(SETTING_METRICS), (11, 4.2))
    for ax, name in zip(axes[0], SETTING_METRICS, strict=True):
        for i, (_, style) in enumerate(styles.iterrows()):
            of_style = select(means, style.to_dict())
            for key, line in groups(of_style, [x], sort=True):
                line = line.sort_values(axis)
                colour = OKABE_ITO[levels.index(key[x]) % len(OKABE_ITO)]
                ax.plot(line[axis].astype(float), line[name].astype(float), color=colour,
                        ls=_STYLES[i % len(_STYLES)], marker="o", ms=4,
                        label=line_label({x: key[x], **style.to_dict()}, x))  # fmt: skip
        shown = metric_row(name)
        ax.set_yscale("log" if shown.log else "linear")
        ax.set_ylabel(shown.axis_label)
        ax.set_xlabel(axis)
        ax.grid(alpha=0.3)
    values = sorted(means[axis].unique())
    if values[0] > 0 and values[-1] / values[0] >= 8:
        for ax in axes[0]:
            ax.set_xscale("log")
    for ax in axes[0]:
        ax.set_xticks([float(v) for v in values], [format_value(axis, v) for v in values])
        ax.minorticks_off()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8, frameon=False)
    fig.suptitle(f"Before learning, against {axis} (geometric means over seeds)", fontsize=10)
    return fig


def caption(axis: str) -> str:
    """The figure's one-line caption in the report."""
    left, right = (metric_row(m).label for m in SETTING_METRICS)
    return (
        f"Left: {left}; right: {right}; each against {axis}, geometric means over the seeds, "
        f"a colour per dependency level and a line style per value of the other settings."
    )
