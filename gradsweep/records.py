"""What a trial measures and keeps: per-epoch metrics, its resumable state, its summary.

The ground floor with `config.py`: no TensorFlow, no Ray. `Summary` is the one list of a
trial's final fields: `TrialResult.summary()` fills it, the sweep layer writes it, and the
results reader builds the trials table's metric columns (and their dtypes) from it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from gradsweep import tasks
from gradsweep.config import TrialConfig


@dataclass
class EpochMetrics:
    """What one epoch measured. Gradient norms are taken before clipping."""

    epoch: int
    samples_seen: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    grad_norm_mean: float
    grad_norm_max: float
    grad_norm_input_kernel: float
    grad_norm_recurrent_kernel: float
    grad_norm_bias: float
    grad_norm_head: float
    clip_fraction: float
    signal_grad_ratio: float | None
    spectral_radius: float | None
    grad_profile: list[float] | None
    time_s: float
    val_mse: float | None = None  # regression tasks (adding): val_loss is the MSE


EPOCH_FIELDS = tuple(f.name for f in fields(EpochMetrics))


@dataclass
class Summary:
    """A trial's final, scalar metrics: one row of the trials table, without the config.

    The field order is the trials table's column order. Fields a trial still running
    cannot know yet (test metrics, solved, wall time) are None for it.
    """

    epochs_run: int
    samples_seen: int
    train_loss: float | None
    val_acc: float | None
    best_val_acc: float | None
    test_acc: float | None
    test_loss: float | None
    val_mse: float | None  # regression tasks only (adding), final epoch
    test_mse: float | None  # regression tasks only
    grad_norm_mean: float | None  # mean over epochs of the per-epoch step mean
    grad_norm_max: float | None  # over every step of the run; NaN if any step was NaN
    grad_norm_first: float | None  # mean over the first epoch's steps
    clip_fraction: float | None  # share of all steps that were clipped
    signal_grad_ratio: float | None  # final epoch
    spectral_radius: float | None  # final epoch
    signal_grad_ratio_init: float | None  # before training
    spectral_radius_init: float | None  # before training
    solved: bool | None
    samples_to_solve: int | None
    diverged: bool | None
    wall_s: float | None


SUMMARY_FIELDS = tuple(f.name for f in fields(Summary))


def _nan_max(values: list[float]) -> float:
    """Max that a NaN anywhere turns into NaN (Python's max would depend on the order)."""
    return float(np.max(values)) if values else math.nan


# Summary fields that follow from the epochs alone: (epoch field, how it is reduced).
FROM_EPOCHS: dict[str, tuple[str, Callable[[list[Any]], Any]]] = {
    "epochs_run": ("epoch", len),
    "samples_seen": ("samples_seen", lambda v: v[-1]),
    "train_loss": ("train_loss", lambda v: v[-1]),
    "val_acc": ("val_acc", lambda v: v[-1]),
    "val_mse": ("val_mse", lambda v: v[-1]),
    "best_val_acc": ("val_acc", _nan_max),
    "grad_norm_mean": ("grad_norm_mean", lambda v: float(np.mean(v))),
    "grad_norm_max": ("grad_norm_max", _nan_max),
    "grad_norm_first": ("grad_norm_mean", lambda v: v[0]),
    "clip_fraction": ("clip_fraction", lambda v: float(np.mean(v))),
    "signal_grad_ratio": ("signal_grad_ratio", lambda v: v[-1]),
    "spectral_radius": ("spectral_radius", lambda v: v[-1]),
}


def _as_float(value: Any) -> Any:
    return math.nan if value is None else value


def summarize_epochs(epochs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The summary fields that epochs alone determine, in a trial finished or not.

    Missing numbers (None, as strict JSON writes non-finite ones) count as NaN.
    """
    out = {}
    for name, (column, reduce) in FROM_EPOCHS.items():
        values = [_as_float(e.get(column)) for e in epochs]
        out[name] = reduce(values) if values else None
    return out


@dataclass
class TrialState:
    """Everything needed to continue a trial exactly: weights, optimizer, RNG, history."""

    epoch: int
    weights: list[np.ndarray]
    optimizer: list[np.ndarray]
    rng: dict[str, Any]
    history: list[dict[str, Any]]
    init: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: str | Path) -> None:
        """Write `state.json` and `arrays.npz` (no pickle) into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"w{i}": w for i, w in enumerate(self.weights)}
        arrays |= {f"o{i}": o for i, o in enumerate(self.optimizer)}
        np.savez(directory / "arrays.npz", **arrays)
        meta = {
            "epoch": self.epoch,
            "n_weights": len(self.weights),
            "n_optimizer": len(self.optimizer),
            "rng": self.rng,
            "history": self.history,
            "init": self.init,
        }
        (directory / "state.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: str | Path) -> TrialState:
        """Read a state written by `save`."""
        directory = Path(directory)
        meta = json.loads((directory / "state.json").read_text())
        with np.load(directory / "arrays.npz", allow_pickle=False) as arrays:
            weights = [arrays[f"w{i}"] for i in range(meta["n_weights"])]
            optimizer = [arrays[f"o{i}"] for i in range(meta["n_optimizer"])]
        return cls(meta["epoch"], weights, optimizer, meta["rng"], meta["history"], meta["init"])


@dataclass
class TrialResult:
    """A finished trial: its config, per-epoch metrics and final summary."""

    config: TrialConfig
    epochs: list[EpochMetrics]
    solved: bool
    samples_to_solve: int | None
    diverged: bool
    test_acc: float
    test_loss: float
    wall_s: float
    init: dict[str, Any]

    @property
    def best_val_acc(self) -> float:
        return _nan_max([e.val_acc for e in self.epochs])

    def summary(self) -> dict[str, Any]:
        """The final, scalar metrics (one row of the trials table, without the config)."""
        summary = Summary(
            **summarize_epochs([asdict(e) for e in self.epochs]),
            test_acc=self.test_acc,
            test_loss=self.test_loss,
            test_mse=self.test_loss if tasks.get(self.config.task).output == "regression" else None,
            signal_grad_ratio_init=self.init.get("signal_grad_ratio"),
            spectral_radius_init=self.init.get("spectral_radius"),
            solved=self.solved,
            samples_to_solve=self.samples_to_solve,
            diverged=self.diverged,
            wall_s=self.wall_s,
        )
        return asdict(summary)

    def to_dict(self) -> dict[str, Any]:
        """Config, summary and epochs: the `gradsweep train --json` object."""
        return {
            "config": self.config.model_dump(),
            **self.summary(),
            "grad_profile_init": self.init.get("grad_profile"),
            "epochs": [asdict(e) for e in self.epochs],
        }


def strict_json(value: Any) -> Any:
    """`value` with every non-finite float replaced by None, so json.dumps stays strict JSON."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value
