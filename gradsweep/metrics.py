"""How each measured quantity is shown: one table, from which every list of metrics is derived.

`records.py` says what a trial measures and stores (the writer's contract); this table says
how each of those fields is presented: its label on a colour bar or axis, whether it is
drawn and averaged on a log scale, whether it is a share in [0, 1], the report section its
heatmap gets, whether `compare` sets it against the reference seed by seed, its column in
the live `train` table and in the terminal's trial table. A new metric is a field in
`records.py` plus one row here; `tests/test_metrics.py` checks the two agree.

Ground floor: imports only `records`, never pandas, TensorFlow or Ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gradsweep.records import EPOCH_FIELDS, SUMMARY_FIELDS


@dataclass(frozen=True)
class Metric:
    """How one metric is shown. `label` names it on a colour bar or axis; `log`: drawn on a
    log scale and averaged as a geometric mean; `share`: bounded by [0, 1] (intervals on
    the logit scale); `heatmap`: gets a heatmap; `section`: the report's section title of
    that heatmap (None: not in the report); `matched`: `compare` sets it against the
    reference value seed by seed (log metrics as log10); `live`: its column header in
    `train`'s per-epoch table; `headline`: shown in the terminal's trial table; `short`:
    its name in a table's column title (the label when not given)."""

    name: str
    label: str
    log: bool = False
    share: bool = False
    heatmap: bool = False
    section: str | None = None
    matched: bool = False
    live: str | None = None
    headline: bool = False
    short: str | None = None

    @property
    def axis_label(self) -> str:
        """The label with its scale: 'validation loss (log scale)'."""
        return self.label + (" (log scale)" if self.log else "")

    @property
    def compared(self) -> str:
        """The name of its seed-matched difference in `compare`'s tables."""
        return f"log10_{self.name}" if self.log else self.name

    @property
    def compared_title(self) -> str:
        """Its column title in the report's comparison table."""
        return f"{'log10 ' if self.log else ''}{self.short or self.label} (seed-matched)"


# fmt: off
_ROWS = [
    Metric("epoch", "epoch", live="ep"),
    Metric("epochs_run", "epochs run", headline=True),
    Metric("samples_seen", "training sequences seen", live="samples"),
    Metric("train_loss", "training loss", log=True, live="loss"),
    Metric("train_acc", "training accuracy", share=True),
    Metric("val_loss", "validation loss", log=True),
    Metric("val_acc", "validation score", share=True, live="val acc"),
    Metric("val_mse", "validation MSE", log=True),
    Metric("best_val_acc", "best validation accuracy", share=True, heatmap=True),
    Metric("test_acc", "test accuracy", share=True, heatmap=True, headline=True, matched=True,
           short="test acc", section="Test accuracy against dependency"),
    Metric("test_loss", "test loss", log=True),
    Metric("test_mse", "test MSE", log=True, heatmap=True,
           section="Test MSE against dependency (regression tasks)"),
    Metric("grad_norm_mean", "mean gradient norm", log=True, live="|g|"),
    Metric("grad_norm_first", "mean gradient norm, first epoch", log=True, heatmap=True,
           headline=True, section="Gradient norm in the first epoch"),
    Metric("grad_norm_max", "max gradient norm (pre-clip)", log=True, heatmap=True,
           live="|g| max", headline=True, section="Largest gradient norm"),
    Metric("grad_norm_input_kernel", "gradient norm, input kernel", log=True),
    Metric("grad_norm_recurrent_kernel", "gradient norm, recurrent kernel", log=True),
    Metric("grad_norm_bias", "gradient norm, recurrent bias", log=True),
    Metric("grad_norm_head", "gradient norm, output layer", log=True),
    Metric("clip_fraction", "share of steps clipped", share=True, live="clip"),
    Metric("signal_grad_ratio_init", "|dL/dx| signal / last, at init", log=True, heatmap=True,
           headline=True, section="Gradient reaching the signal, before training"),
    Metric("signal_grad_ratio", "|dL/dx| at signal / at last input", log=True, heatmap=True,
           matched=True, live="sig/last", short="signal ratio",
           section="Gradient reaching the signal, after training"),
    Metric("spectral_radius", "spectral radius of recurrent kernel", heatmap=True, live="ρ(W)"),
    Metric("spectral_radius_init", "spectral radius of recurrent kernel, at init"),
    Metric("solved", "solved", headline=True),
    Metric("samples_to_solve", "training sequences to solve", headline=True, matched=True,
           short="samples to solve"),
    Metric("diverged", "diverged", headline=True),
    Metric("wall_s", "wall time (s)"),
    Metric("time_s", "epoch time (s)", live="s"),
]
# fmt: on

METRICS: dict[str, Metric] = {m.name: m for m in _ROWS}
# Every name the table may hold: a field a trial writes per epoch or in its summary.
KNOWN_FIELDS = frozenset(EPOCH_FIELDS) | frozenset(SUMMARY_FIELDS)

HEATMAPS = [m.name for m in _ROWS if m.heatmap]
REPORT_HEATMAPS = [(m.name, m.section) for m in _ROWS if m.section]
MATCHED = [m for m in _ROWS if m.matched]
LIVE_COLUMNS = [(m.name, m.live) for m in _ROWS if m.live]
HEADLINE = [m.name for m in _ROWS if m.headline]
# Shares are bounded by [0, 1]; the aggregate solved rate is one too.
SHARES = frozenset(m.name for m in _ROWS if m.share) | {"solved_rate"}


def metric(name: str) -> Metric:
    """The row of `name`; a metric not in the table is shown by its name, linearly."""
    return METRICS.get(name, Metric(name, name))


def format_number(value: float | None, missing: str = "n/a") -> str:
    """A measured number as every report, table and terminal line writes it: `missing`
    when absent or not finite, 0 as '0', three significant figures, and two in scientific
    notation below 0.01 and from 10,000 up (4.2e-08, not 0.000; 3.3e+05, not 330000)."""
    try:
        value = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # None, pandas' NA
        return missing
    if not math.isfinite(value):
        return missing
    if value == 0:
        return "0"
    if abs(value) < 0.01 or abs(value) >= 1e4:
        return f"{value:.1e}"
    return f"{value:.3g}"
