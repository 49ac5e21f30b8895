"""Figures from the tidy tables: DataFrame in, matplotlib Figure out (never shown here).

`heatmaps` draws a metric over model and dependency level and the gradient through time;
`curves` the learning curves, the frontier, axis importance and the comparison curves;
`canvas` what they share (colours, model order, text that fits, saving). `for_report`
is the report's figure layout: which figures it shows, in which order, under which title.
Figures are made without pyplot, so nothing here touches matplotlib's global backend or
figure registry: a notebook's inline display keeps working.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import pandas as pd
from matplotlib.figure import Figure

from gradsweep.metrics import REPORT_HEATMAPS
from gradsweep.metrics import metric as metric_row
from gradsweep.plots.canvas import OKABE_ITO, save
from gradsweep.plots.curves import (
    compare_curves,
    final_profiles,
    frontier,
    importance,
    learning_curves,
)
from gradsweep.plots.heatmaps import gradient_through_time, heatmap
from gradsweep.plots.settings import against_setting, caption, numeric_settings

__all__ = [
    "OKABE_ITO",
    "against_setting",
    "compare_curves",
    "final_profiles",
    "for_report",
    "frontier",
    "gradient_through_time",
    "heatmap",
    "importance",
    "learning_curves",
    "save",
]


class Planned(NamedTuple):
    """One figure of the report: its file stem, section title, what draws it (called only
    when the report writes it) and a one-line caption (empty: the title says it all)."""

    stem: str
    title: str
    draw: Callable[[], Figure]
    caption: str = ""


def _by(metric: str, axis: str) -> str:
    label = metric_row(metric).label
    return f"{label[:1].upper()}{label[1:]} by {axis}"


def for_report(
    tables: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    ranked: pd.DataFrame,
    axis: str | None = None,
) -> list[Planned]:
    """The report's figures in order, from the finished trials, their epochs and profiles
    (`tables`) and the axis importance (`ranked`): the gradient through time, a heatmap of
    every metric the metrics table gives a report section (when measured), learning
    curves, the frontier and importance; per swept numeric setting (`numeric_settings`:
    recurrent_gain, lr ...) the first-epoch gradient norm and initial signal ratio against
    it; with a compared `axis`, its curves too."""
    done, epochs, profiles = tables
    # First the gradient through time: the figure behind the findings' "why".
    planned = [
        Planned("gradient_through_time", "Gradient through time, before training",
                partial(gradient_through_time, profiles, done, epoch=0),
                "Mean |dL/dx_t| before any training, by steps back from the last input: a "
                "model learns a dependency only once this gradient reaches the input it "
                "depends on (marked when that is one position, as the recalled bit)."),
    ]  # fmt: skip
    planned += [
        Planned(name, title, partial(heatmap, done, name))
        for name, title in REPORT_HEATMAPS
        if name in done and done[name].notna().any()
    ]
    planned += [
        Planned(f"before_learning_by_{setting}",
                f"Gradient norm and signal ratio before learning, against {setting}",
                partial(against_setting, done, setting), caption(setting))
        for setting in numeric_settings(done)
    ]  # fmt: skip
    planned += [
        Planned("learning_curves", "Learning curves", partial(learning_curves, epochs, done)),
        Planned("frontier", "Trainability frontier", partial(frontier, done)),
        Planned("importance", "Which axes matter", partial(importance, ranked)),
    ]  # fmt: skip
    if axis is None:
        return planned
    planned += [
        Planned("compare_val_acc", _by("val_acc", axis),
                partial(compare_curves, epochs, done, axis, "val_acc")),
        Planned("compare_profiles", f"Gradient reaching each input after training, by {axis}",
                partial(final_profiles, profiles, done, axis)),
    ]  # fmt: skip
    if "clip_fraction" in epochs and done["clip_norm"].notna().any():
        clips = partial(compare_curves, epochs, done, axis, "clip_fraction")
        planned.append(Planned("compare_clip_fraction", _by("clip_fraction", axis), clips))
    return planned
