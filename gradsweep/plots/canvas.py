"""What every figure shares: colours, the order of models, text that fits, a Figure of its
own (never pyplot's, so a notebook's inline display and matplotlib's global backend are
left alone), and saving as PNG and SVG."""

from __future__ import annotations

import textwrap

import pandas as pd
from matplotlib.figure import Figure

from gradsweep.config import ARCH_NAMES, group_label

# Lines use the Okabe-Ito palette (colour-blind safe); colour maps are viridis and cividis.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
ARCH_ORDER = list(ARCH_NAMES)  # figures order models as the config names archs


def row_labels(keys: pd.DataFrame, rows: list[str]) -> list[str]:
    """Each model's label (`config.group_label`) from its values of `rows`."""
    return [group_label({c: r[c] for c in rows}) for _, r in keys.iterrows()]


def sorted_models(frame: pd.DataFrame, rows: list[str]) -> pd.DataFrame:
    """The distinct values of `rows` in `frame`: by architecture (rnn, lstm, gru), clipping
    off before any clip, then the other settings."""
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


def wrap(text: str, inches: float, points: float = 10) -> str:
    """`text` broken into lines that fit `inches` at `points` size (about 0.55 em a glyph)."""
    per_line = max(12, int(inches * 72 / (0.55 * points)))
    return "\n".join(textwrap.wrap(text, per_line)) or text


def subplots(nrows: int, ncols: int, size: tuple[float, float], **shared) -> tuple:
    """A Figure of its own (no pyplot) and its axes as a 2-D array."""
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **shared)


def empty_figure(message: str) -> Figure:
    """A small figure that says why there is nothing to draw."""
    fig, axes = subplots(1, 1, (6, 1.5))
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


def panel_grid(rows: int, cols: int) -> tuple:
    """A grid of small panels, as wide as 24 inches at most."""
    return subplots(rows, cols, (min(2.9 * cols + 1.6, 24), 2.3 * rows + 1.0))
