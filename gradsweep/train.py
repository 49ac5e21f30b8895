"""One monitored training trial, in process and without Ray: `run_trial`.

`run_trial(cfg)` trains a model on one task with minibatch Adam, measures its gradients every
step and every epoch, stops early once validation accuracy reaches `solve_threshold`, and
returns a `TrialResult`. It can start from a saved `TrialState` and hands one out every
`checkpoint_every` epochs, so a caller (the sweep layer) can checkpoint and resume it.
The top of the core: it uses `loop.py` (the compiled training) and the records below it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import numpy as np

from gradsweep.config import TrialConfig
from gradsweep.errors import ConfigError
from gradsweep.records import EpochMetrics, TrialResult, TrialState

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
    the result is the same as that of an uninterrupted run. When it returns or raises,
    `release_session` frees what the trial left in the process.
    """
    pin_threads(cfg.threads)
    enable_memory_growth()
    try:
        return _train(cfg, on_epoch, state)
    finally:
        release_session()


def release_session() -> None:
    """Free what a finished trial left in this process: Keras's global state (layer name
    counters; Keras settings such as floatx return to their defaults), TensorFlow's default
    graph and kernel cache, and, by a garbage collection, the trial's model, optimizer and
    traced functions, which refer to each other in cycles.

    Why: workers are reused for trial after trial. Together with `loop.apply_update` (the
    compiled step's optimizer call, which no longer registers a process-wide gradient
    function per trace that kept the trace's FuncGraphs alive) it keeps a worker's memory
    flat. Measured here (TensorFlow 2.21, Keras 3.15, tiny one-epoch trials in one process,
    `benchmarks/bench_memory.py`): RSS 752 MiB after 10 trials and 762 MiB after 100, 0.1 MiB
    a trial. Before `apply_update`, 7.1 MiB a trial with this call and 7.7 MiB without it
    (its share with `apply_update` was not measured)."""
    import keras

    keras.utils.clear_session(free_memory=True)


def _train(
    cfg: TrialConfig, on_epoch: EpochCallback | None, state: TrialState | None
) -> TrialResult:
    """`run_trial`'s body; everything it builds is unreferenced once it returns."""
    # Imported here, not at the top: `import gradsweep` must not import TensorFlow.
    from gradsweep.loop import Trainer

    start = time.perf_counter()
    trainer = Trainer(cfg)
    history: list[EpochMetrics] = []
    if state is None:
        init = trainer.probe()._asdict() if cfg.diagnostics else {}
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


def _result(
    cfg: TrialConfig, history: list[EpochMetrics], trainer, init: dict, start: float
) -> TrialResult:
    solved_at = next((e for e in history if e.val_acc >= cfg.solve_threshold), None)
    test_loss, test_acc = trainer.evaluate_test()
    diverged = _diverged(history[-1]) or not trainer.weights_finite()
    return TrialResult(
        config=cfg,
        epochs=history,
        solved=solved_at is not None,
        samples_to_solve=solved_at.samples_seen if solved_at else None,
        diverged=diverged,
        test_acc=test_acc,
        test_loss=test_loss,
        wall_s=time.perf_counter() - start,
        init=init,
    )
