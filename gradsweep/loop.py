"""The compiled training loop behind `run_trial`: data, model, optimizer and measurements.

A whole epoch runs as one `tf.function` (a graph loop over minibatches), so Python is entered
once per epoch rather than once per step; per-step gradient norms are accumulated in the graph.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from gradsweep import diagnostics, tasks
from gradsweep.config import VARIABLE_GROUPS, TrialConfig
from gradsweep.models import (
    Objective,
    build_model,
    objective,
    recurrent_matrix,
    variable_groups,
)
from gradsweep.records import EpochMetrics, TrialState

EVAL_CHUNK = 4096  # sequences per evaluation call; bounds memory for large sets


class StepMeasures(NamedTuple):
    """What one optimizer step measured; norms are taken before clipping."""

    loss: tf.Tensor  # mean loss over the minibatch
    correct: tf.Tensor  # the minibatch's summed score (correct sequences, or shares of them)
    norm: tf.Tensor  # global gradient norm
    group_norms: tf.Tensor  # one norm per VARIABLE_GROUPS entry


def train_step(model, optimizer, group_ids, clip_norm, x, y, task: Objective) -> StepMeasures:
    """One optimizer step on a minibatch, clipped to `clip_norm` (None = off)."""
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        pred = model(x, training=True)
        loss = tf.reduce_mean(task.loss(y, pred))
    grads = tape.gradient(loss, variables)
    norm, group_norms = diagnostics.gradient_norms(grads, group_ids)
    if clip_norm is not None:
        grads, _ = tf.clip_by_global_norm(grads, clip_norm, use_norm=norm)
    optimizer.apply(grads, variables)
    correct = tf.reduce_sum(task.score(y, pred))
    return StepMeasures(loss, correct, norm, group_norms)


def train_epoch(model, optimizer, group_ids, clip_norm, batch_size, x, y, order, task):
    """One pass over `x` in the given order; returns sums and extremes of the step measures."""
    n = tf.shape(order)[0]
    steps = (n + batch_size - 1) // batch_size
    loss_sum = tf.constant(0.0)
    correct = tf.constant(0.0)
    norm_sum = tf.constant(0.0)
    norm_max = tf.constant(0.0)
    clipped = tf.constant(0.0)
    group_sum = tf.zeros([len(VARIABLE_GROUPS)])
    for i in tf.range(steps):
        idx = order[i * batch_size : tf.minimum((i + 1) * batch_size, n)]
        xb, yb = tf.gather(x, idx), tf.gather(y, idx)
        step = train_step(model, optimizer, group_ids, clip_norm, xb, yb, task)
        loss_sum += step.loss * tf.cast(tf.shape(idx)[0], tf.float32)
        correct += step.correct
        norm_sum += step.norm
        # NaN-propagating max: a non-finite step must not hide behind an earlier finite one.
        norm_max = tf.where(
            tf.math.is_finite(step.norm), tf.maximum(norm_max, step.norm), step.norm
        )
        if clip_norm is not None:
            clipped += tf.cast(step.norm > clip_norm, tf.float32)
        group_sum += step.group_norms
    steps_f = tf.cast(steps, tf.float32)
    n_f = tf.cast(n, tf.float32)
    return {
        "train_loss": loss_sum / n_f,
        "train_acc": correct / n_f,
        "grad_norm_mean": norm_sum / steps_f,
        "grad_norm_max": norm_max,
        "clip_fraction": clipped / steps_f,
        "group_norms": group_sum / steps_f,
    }


def evaluate(model, x, y, task: Objective):
    """Summed loss and summed score over a batch of sequences."""
    pred = model(x, training=False)
    return tf.reduce_sum(task.loss(y, pred)), tf.reduce_sum(task.score(y, pred))


def make_optimizer(cfg: TrialConfig) -> keras.optimizers.Optimizer:
    """Adam, SGD or RMSprop at `cfg.lr` (with `cfg.momentum` for the latter two)."""
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=cfg.lr, momentum=cfg.momentum)
    return keras.optimizers.Adam(learning_rate=cfg.lr)


class Trainer:
    """Data, model, optimizer and compiled functions of one trial."""

    def __init__(self, cfg: TrialConfig):
        self.cfg = cfg
        sizes = (cfg.train_size, cfg.val_size, cfg.test_size, cfg.probe_size)
        self.data = tasks.make_splits(cfg.task, cfg.seq_len, sizes, cfg.seed, cfg.gap, cfg.scale)
        self.model = build_model(cfg)
        self.task = tasks.get(cfg.task)
        self.objective = objective(cfg.task)
        self.optimizer = make_optimizer(cfg)
        self.optimizer.build(self.model.trainable_variables)
        # Shuffling has its own stream, so its state can be saved and restored exactly.
        self.rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5EED]))
        self.train_x = tf.constant(self.data.train.x)
        self.train_y = tf.constant(self.data.train.y)
        group_ids = tf.constant(
            [VARIABLE_GROUPS.index(g) for g in variable_groups(self.model)], tf.int32
        )
        clip, task = cfg.clip_norm, self.objective

        def epoch_fn(x, y, order):
            return train_epoch(
                self.model, self.optimizer, group_ids, clip, cfg.batch_size, x, y, order, task
            )

        self._epoch = tf.function(epoch_fn)
        self._evaluate = tf.function(
            lambda x, y: evaluate(self.model, x, y, task), reduce_retracing=True
        )
        self._gradients = tf.function(
            lambda x, y: diagnostics.input_gradients(self.model, x, y, task.loss)
        )

    def run_epoch(self, epoch: int) -> EpochMetrics:
        """Train one epoch, evaluate on validation data and measure the gradients."""
        start = time.perf_counter()
        order = tf.constant(self.rng.permutation(self.cfg.train_size), tf.int32)
        out = {k: v.numpy() for k, v in self._epoch(self.train_x, self.train_y, order).items()}
        val_loss, val_acc = self._evaluate_split(self.data.val)
        probe = self.probe() if self.cfg.diagnostics else {}
        groups = dict(zip(VARIABLE_GROUPS, out.pop("group_norms").tolist(), strict=True))
        return EpochMetrics(
            epoch=epoch,
            samples_seen=epoch * self.cfg.train_size,
            **{k: float(v) for k, v in out.items()},
            val_loss=val_loss,
            val_acc=val_acc,
            val_mse=val_loss if self.task.output == "regression" else None,
            **{f"grad_norm_{g}": v for g, v in groups.items()},
            signal_grad_ratio=probe.get("signal_grad_ratio"),
            spectral_radius=probe.get("spectral_radius"),
            grad_profile=probe.get("grad_profile"),
            time_s=time.perf_counter() - start,
        )

    def probe(self) -> dict:
        """Gradient through time and spectral radius, on the fixed probe batch."""
        probe = self.data.probe
        gradients = self._gradients(tf.constant(probe.x), tf.constant(probe.y))
        gradients = gradients.numpy().astype(np.float64)
        profile = gradients.mean(axis=0)
        if self.task.fixed_signal:
            ratio = diagnostics.signal_grad_ratio(profile, self.cfg.signal_position)
        else:  # each sequence at its own signal (the adding problem's first marker)
            ratio = diagnostics.signal_grad_ratio_per_sequence(gradients, probe.signal)
        kernel = recurrent_matrix(self.model)
        return {
            "grad_profile": profile.tolist(),
            "signal_grad_ratio": ratio,
            "spectral_radius": diagnostics.spectral_radius(kernel),
        }

    def _evaluate_split(self, split: tasks.Split) -> tuple[float, float]:
        loss, correct = 0.0, 0.0
        for lo in range(0, len(split), EVAL_CHUNK):
            chunk_loss, chunk_correct = self._evaluate(
                tf.constant(split.x[lo : lo + EVAL_CHUNK]),
                tf.constant(split.y[lo : lo + EVAL_CHUNK]),
            )
            loss += float(chunk_loss)
            correct += float(chunk_correct)
        return loss / len(split), correct / len(split)

    def evaluate_test(self) -> tuple[float, float]:
        """Loss and accuracy on the untouched test set."""
        return self._evaluate_split(self.data.test)

    def weights_finite(self) -> bool:
        """True when no weight is NaN or infinite."""
        return all(np.all(np.isfinite(w)) for w in self.model.get_weights())

    def state(self, history: list[EpochMetrics], init: dict) -> TrialState:
        """A snapshot from which `restore` continues exactly."""
        return TrialState(
            epoch=len(history),
            weights=self.model.get_weights(),
            optimizer=[v.numpy() for v in self.optimizer.variables],
            rng=self.rng.bit_generator.state,
            history=[asdict(e) for e in history],
            init=init,
        )

    def restore(self, state: TrialState) -> None:
        """Load weights, optimizer state and shuffling RNG from a snapshot."""
        self.model.set_weights(state.weights)
        if len(state.optimizer) != len(self.optimizer.variables):
            raise ValueError("saved optimizer state does not match this model")
        for var, value in zip(self.optimizer.variables, state.optimizer, strict=True):
            var.assign(value)
        self.rng.bit_generator.state = state.rng
