"""One monitored training trial, in process and without Ray.

`run_trial(cfg)` trains a model on one task with minibatch Adam, measures its gradients every
step and every epoch, stops early once validation accuracy reaches `solve_threshold`, and
returns a `TrialResult`. It can start from a saved `TrialState` and hands one out every
`checkpoint_every` epochs, so a caller (the sweep layer) can checkpoint and resume it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gradsweep import tasks
from gradsweep.errors import ConfigError, from_validation_error

Arch = Literal["rnn", "lstm", "gru"]
# Recurrent initialisers worth comparing: the vanishing-gradient results depend on them
# (Pascanu et al. 2013; Le et al. 2015 use the identity for ReLU RNNs).
RecurrentInit = Literal["orthogonal", "glorot_uniform", "identity", "random_normal"]
# Per-variable gradient groups, named the same whatever Keras calls the layers.
VARIABLE_GROUPS = ("input_kernel", "recurrent_kernel", "bias", "head")

DEFAULT_RECALL_GAP = 10


class TrialConfig(BaseModel):
    """Everything that defines one trial. Frozen; unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: Literal["recall", "sum_sign"] = "recall"
    arch: Arch = "rnn"
    hidden: int = Field(32, ge=1, le=4096)
    seq_len: int = Field(20, ge=1, le=100_000)
    gap: int | None = Field(None, ge=0, description=f"recall only; {DEFAULT_RECALL_GAP} if absent")
    scale: float = Field(10.0, gt=0, allow_inf_nan=False, description="sum_sign input std")
    recurrent_init: RecurrentInit = "orthogonal"
    clip_norm: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="global-norm clipping; None = off"
    )
    lr: float = Field(1e-3, gt=0, allow_inf_nan=False)
    batch_size: int = Field(64, ge=1)
    train_size: int = Field(4096, ge=1)
    val_size: int = Field(1024, ge=1)
    test_size: int = Field(2048, ge=1)
    seed: int = Field(0, ge=0, lt=2**32)
    max_epochs: int = Field(20, ge=1)
    solve_threshold: float = Field(0.99, gt=0.5, le=1.0)
    probe_size: int = Field(256, ge=1)
    checkpoint_every: int = Field(1, ge=1)
    diagnostics: bool = True
    threads: int | None = Field(None, ge=1, description="TensorFlow CPU threads; None = TF's")

    @model_validator(mode="before")
    @classmethod
    def _default_gap(cls, data: Any) -> Any:
        recall = isinstance(data, dict) and data.get("task", "recall") == "recall"
        if recall and data.get("gap") is None:
            data = {**data, "gap": DEFAULT_RECALL_GAP}
        return data

    @field_validator("gap")
    @classmethod
    def _well_posed(cls, gap: int | None, info: ValidationInfo) -> int | None:
        # Declared after task and seq_len, so both are in info.data when they were valid.
        if "task" in info.data and "seq_len" in info.data:
            tasks.check_task(info.data["task"], info.data["seq_len"], gap)
        return gap

    @classmethod
    def parse(cls, values: dict[str, Any], where: str = "") -> TrialConfig:
        """Validate `values`, raising ConfigError with one line naming the bad field."""
        try:
            return cls(**values)
        except ValidationError as err:
            raise from_validation_error(err, where) from None

    @property
    def signal_position(self) -> int:
        """The input the label depends on most: the recalled bit, or the first for sum_sign."""
        return tasks.signal_position(self.seq_len, self.gap) if self.gap is not None else 0


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
    best_val_acc: float
    test_acc: float
    test_loss: float
    wall_s: float
    init: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """The final, scalar metrics (one row of the trials table, without the config)."""
        last = self.epochs[-1]
        norms = [e.grad_norm_mean for e in self.epochs]
        return {
            "solved": self.solved,
            "samples_to_solve": self.samples_to_solve,
            "diverged": self.diverged,
            "epochs_run": len(self.epochs),
            "samples_seen": last.samples_seen,
            "train_loss": last.train_loss,
            "val_acc": last.val_acc,
            "best_val_acc": self.best_val_acc,
            "test_acc": self.test_acc,
            "test_loss": self.test_loss,
            "grad_norm_mean": float(np.mean(norms)),
            "grad_norm_max": max(e.grad_norm_max for e in self.epochs),
            "grad_norm_first": self.epochs[0].grad_norm_mean,
            "clip_fraction": float(np.mean([e.clip_fraction for e in self.epochs])),
            "signal_grad_ratio": last.signal_grad_ratio,
            "spectral_radius": last.spectral_radius,
            "signal_grad_ratio_init": self.init.get("signal_grad_ratio"),
            "spectral_radius_init": self.init.get("spectral_radius"),
            "wall_s": self.wall_s,
        }

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


EpochCallback = Callable[[EpochMetrics, TrialState | None, TrialResult | None], None]


def pin_threads(threads: int | None) -> None:
    """Fix TensorFlow's CPU thread pools; they can be set only once per process."""
    if threads is None:
        return
    import tensorflow as tf

    current = tf.config.threading.get_intra_op_parallelism_threads()
    if current == threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        shown = current or "TensorFlow's default"
        raise ConfigError(
            f"threads: {threads} is not allowed: this process already runs TensorFlow with "
            f"{shown} threads (fixed once per process); start a new process for another value"
        ) from None


def enable_memory_growth() -> None:
    """Let TensorFlow take GPU memory as it needs it, so fractional-GPU trials share a card.

    Must run before any GPU op; on a process whose GPUs are already initialised it keeps
    what was set (a reused worker set it for its first trial).
    """
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        # RuntimeError: initialised already, and the setting cannot change any more.
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)


def run_trial(
    cfg: TrialConfig,
    on_epoch: EpochCallback | None = None,
    state: TrialState | None = None,
) -> TrialResult:
    """Train one model as `cfg` says and return what it measured.

    `on_epoch(metrics, state, result)` is called after every epoch; `state` is a `TrialState`
    every `checkpoint_every` epochs (else None) and `result` is the finished `TrialResult` on
    the last epoch (else None). Pass a saved `state` to continue a trial where it stopped:
    the result is the same as that of an uninterrupted run.
    """
    pin_threads(cfg.threads)
    enable_memory_growth()
    from gradsweep.loop import Trainer  # TensorFlow is imported only when training

    start = time.perf_counter()
    trainer = Trainer(cfg)
    history: list[EpochMetrics] = []
    if state is None:
        init = trainer.probe() if cfg.diagnostics else {}
    else:
        trainer.restore(state)
        history = [EpochMetrics(**h) for h in state.history]
        init = state.init
    result = _result(cfg, history, trainer, init, start) if _finished(cfg, history) else None
    while result is None:
        metrics = trainer.run_epoch(len(history) + 1)
        history.append(metrics)
        if _finished(cfg, history):
            result = _result(cfg, history, trainer, init, start)
        if on_epoch is not None:
            due = result is None and metrics.epoch % cfg.checkpoint_every == 0
            on_epoch(metrics, trainer.state(history, init) if due else None, result)
    return result


def _diverged(metrics: EpochMetrics) -> bool:
    return not (np.isfinite(metrics.train_loss) and np.isfinite(metrics.grad_norm_max))


def _finished(cfg: TrialConfig, history: list[EpochMetrics]) -> bool:
    if not history:
        return False
    last = history[-1]
    return len(history) >= cfg.max_epochs or last.val_acc >= cfg.solve_threshold or _diverged(last)


def _result(cfg, history, trainer, init, start) -> TrialResult:
    solved_at = next((e for e in history if e.val_acc >= cfg.solve_threshold), None)
    test_loss, test_acc = trainer.evaluate_test()
    diverged = _diverged(history[-1]) or not trainer.weights_finite()
    return TrialResult(
        config=cfg,
        epochs=history,
        solved=solved_at is not None,
        samples_to_solve=solved_at.samples_seen if solved_at else None,
        diverged=diverged,
        best_val_acc=max(e.val_acc for e in history),
        test_acc=test_acc,
        test_loss=test_loss,
        wall_s=time.perf_counter() - start,
        init=init,
    )


EPOCH_FIELDS = tuple(f.name for f in fields(EpochMetrics))
__all__ = [
    "EPOCH_FIELDS",
    "VARIABLE_GROUPS",
    "Arch",
    "EpochMetrics",
    "RecurrentInit",
    "TrialConfig",
    "TrialResult",
    "TrialState",
    "pin_threads",
    "run_trial",
]
