"""1. gradsweep's monitored epoch against keras.Model.fit; 5. FLOP/s against a matmul peak.

Fair baseline: `fit` on the same model (same builder, seed, initial weights), the same data,
batch size and threads, with validation on the same validation set, as a Keras user would
train and evaluate. gradsweep's epoch does that plus its diagnostics (per-step global and
per-variable gradient norms, the gradient profile and spectral radius on the probe batch).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from benchmarks.common import Row, median, ratio_stats, timed
from gradsweep import TrialConfig
from gradsweep.loop import Trainer
from gradsweep.models import build_model

SIZE = {
    "seq_len": 60,
    "gap": 20,
    "hidden": 64,
    "batch_size": 64,
    "train_size": 4096,
    "val_size": 1024,
    "probe_size": 256,
}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _fit_epoch(cfg: TrialConfig, trainer: Trainer) -> Callable[[], float]:
    model = build_model(cfg)
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.lr), loss="binary_crossentropy", metrics=["accuracy"]
    )
    data = trainer.data
    args = dict(
        batch_size=cfg.batch_size,
        epochs=1,
        verbose=0,
        shuffle=True,
        validation_data=(data.val.x, data.val.y),
    )
    model.fit(data.train.x, data.train.y, **args)  # compile and warm up
    return lambda: timed(lambda: model.fit(data.train.x, data.train.y, **args))


def _our_epoch(cfg: TrialConfig) -> tuple[Callable[[], float], Trainer]:
    trainer = Trainer(cfg)
    epoch = [1]
    trainer.run_epoch(epoch[0])  # trace and warm up

    def one() -> float:
        epoch[0] += 1
        return timed(lambda: trainer.run_epoch(epoch[0]))

    return one, trainer


def training_step(repeats: int = 5) -> list[Row]:
    """Diagnostics on, off, and `fit` alternate within every repeat; ratios are paired."""
    rows = []
    for arch in ("rnn", "lstm", "gru"):
        on, trainer = _our_epoch(TrialConfig(arch=arch, diagnostics=True, **SIZE))
        off, _ = _our_epoch(TrialConfig(arch=arch, diagnostics=False, **SIZE))
        fit = _fit_epoch(TrialConfig(arch=arch, **SIZE), trainer)
        times = {"on": [], "off": [], "fit": []}
        for _ in range(repeats):
            for name, run in (("on", on), ("off", off), ("fit", fit)):
                times[name].append(run())
        n = SIZE["train_size"]
        for mode in ("on", "off"):
            r, lo, hi = ratio_stats(times[mode], times["fit"], higher_is_better=False)
            note = ""
            if mode == "on":
                cost = median([a / b - 1 for a, b in zip(times["on"], times["off"], strict=True)])
                note = f"diagnostics cost {cost:+.0%} of an epoch (paired median)"
            rows.append(
                Row(
                    "train step vs keras fit",
                    f"{arch}, diagnostics {mode}",
                    r,
                    lo,
                    hi,
                    "samples/s",
                    n / median(times[mode]),
                    n / median(times["fit"]),
                    target=">= 1.0",
                    note=note,
                )
            )
    return rows


# The literature's cells (gradsweep/cells.py), each against the LSTM at the same hidden size.
REMEDIES = ("urnn", "exprnn", "indrnn")


def cells_vs_lstm(repeats: int = 5) -> list[Row]:
    """Training epochs (diagnostics on) of each new cell and the LSTM alternate within every
    repeat; the ratio is samples/s of the cell over the LSTM's (> 1: the cell is faster)."""
    lstm, _ = _our_epoch(TrialConfig(arch="lstm", **SIZE))
    rows = []
    for arch in REMEDIES:
        cell, _ = _our_epoch(TrialConfig(arch=arch, **SIZE))
        times = {"cell": [], "lstm": []}
        for _ in range(repeats):
            times["cell"].append(cell())
            times["lstm"].append(lstm())
        r, lo, hi = ratio_stats(times["cell"], times["lstm"], higher_is_better=False)
        n = SIZE["train_size"]
        rows.append(
            Row(
                "cell train step vs lstm",
                f"{arch}, hidden {SIZE['hidden']}",
                r,
                lo,
                hi,
                "samples/s",
                n / median(times["cell"]),
                n / median(times["lstm"]),
                note="the same epoch, diagnostics on; ratio = cell / LSTM samples/s",
            )
        )
    return rows


def step_flops(arch: str, batch: int, seq_len: int, hidden: int) -> float:
    """Matmul FLOPs of one training step: forward plus backward (about twice the forward)."""
    gates = GATES[arch]
    forward = 2 * batch * seq_len * (1 + hidden) * gates * hidden + 2 * batch * hidden
    return 3 * forward


def matmul_peak(n: int = 1024, repeats: int = 20) -> float:
    """float32 FLOP/s of TensorFlow's matmul on this process's threads."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    product = tf.function(lambda x, y: tf.matmul(x, y))
    product(a, b).numpy()
    best = min(timed(lambda: product(a, b).numpy()) for _ in range(repeats))
    return 2 * n**3 / best


def hardware_ceiling() -> list[Row]:
    peak = matmul_peak()
    rows = []
    for arch in ("rnn", "lstm", "gru"):
        for batch in (64, 512):
            cfg = TrialConfig(arch=arch, diagnostics=False, **{**SIZE, "batch_size": batch})
            ours, _ = _our_epoch(cfg)
            seconds = median([ours() for _ in range(2)])
            steps = int(np.ceil(cfg.train_size / batch))
            achieved = step_flops(arch, batch, cfg.seq_len, cfg.hidden) * steps / seconds
            rows.append(
                Row(
                    "FLOP/s vs matmul peak",
                    f"{arch}, batch {batch}",
                    achieved / peak,
                    achieved / peak,
                    achieved / peak,
                    "fraction",
                    achieved / 1e9,
                    peak / 1e9,
                    note="GFLOP/s: ours vs peak (1024^2 matmul)",
                )
            )
    return rows


def validation_checks(repeats: int = 8) -> list[Row]:
    """The cost of the default validation checks inside an epoch (eval_every = train_size
    / 8: seven checks, each screening 32 validation sequences) as a share of the epoch: the
    fastest checked epoch over the fastest unchecked one, the two alternating. Fastest
    times, not medians: on a shared machine a paired difference of a few percent drowns in
    noise (measured here under load: -27% to +32%). The note gives the screens alone: seven
    times the fastest compiled screen over the fastest unchecked epoch. The learning rate is
    so small that no screen passes, as in most of a trial. The checked epoch is one compiled
    call with the screens inside its graph loop."""
    return [_check_share(arch, repeats) for arch in ("rnn", "lstm", "gru")]


def _check_share(arch: str, repeats: int) -> Row:
    from gradsweep.loop import solves

    fixed = {**SIZE, "arch": arch, "lr": 1e-7, "diagnostics": False}
    checked = Trainer(TrialConfig(**fixed))
    unchecked = Trainer(TrialConfig(**fixed, eval_every=SIZE["train_size"]))
    check = checked._check()
    screen = tf.function(lambda: solves(checked.model, checked.objective, check))
    x, y = checked.training_set(1)
    order = np.arange(SIZE["train_size"])

    def epoch(trainer: Trainer) -> float:
        return timed(lambda: trainer.train(x, y, order).loss.numpy())

    screen(), epoch(checked), epoch(unchecked)  # trace and warm up
    screens = min(timed(lambda: screen().numpy()) for _ in range(5 * repeats))
    times: dict[str, list[float]] = {"checked": [], "plain": []}
    for _ in range(repeats):
        times["checked"].append(epoch(checked))
        times["plain"].append(epoch(unchecked))
    plain, with_checks = min(times["plain"]), min(times["checked"])
    ratio = plain / with_checks
    return Row(
        "validation checks inside an epoch",
        f"{arch}, every {SIZE['train_size'] // 8} sequences",
        ratio,
        ratio,
        ratio,
        "ms",
        with_checks * 1e3,
        plain * 1e3,
        target=">= 0.95",
        note=f"checks cost {with_checks / plain - 1:+.1%} of an epoch (fastest epochs); "
        f"the screens alone {7 * screens / plain:.1%}",
    )
