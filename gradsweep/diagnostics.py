"""Gradient measurements: norms per step, the gradient reaching each input, spectral radius.

The functions on tensors are pure and left for the caller to compile with `tf.function`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from gradsweep.config import VARIABLE_GROUPS


def gradient_norms(grads: list[tf.Tensor], group_ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Global L2 norm of `grads` and the L2 norm of each variable group (VARIABLE_GROUPS order)."""
    squares = tf.stack([tf.reduce_sum(tf.square(g)) for g in grads])
    per_group = tf.math.unsorted_segment_sum(squares, group_ids, len(VARIABLE_GROUPS))
    return tf.sqrt(tf.reduce_sum(squares)), tf.sqrt(per_group)


def input_gradients(model: keras.Model, x: tf.Tensor, y: tf.Tensor, loss) -> tf.Tensor:
    """|d loss_i / d x_{i,t}| of every sequence i at every input position t, `(n, seq_len)`,
    averaged over the input channels. `loss(y, out)` gives the per-sequence losses
    (`models.objective(task).loss`); they are summed, not averaged, so each sequence's
    gradient is its own and does not shrink with the probe size."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(loss(y, model(x, training=False)))
    return tf.reduce_mean(tf.abs(tape.gradient(total, x)), axis=2)


def input_gradient_profile(model: keras.Model, x: tf.Tensor, y: tf.Tensor, loss) -> tf.Tensor:
    """Mean over the batch of `input_gradients`: one value per input position."""
    return tf.reduce_mean(input_gradients(model, x, y, loss), axis=0)


def signal_grad_ratio(profile: np.ndarray, signal_position: int) -> float:
    """|dL/dx| at the signal position over |dL/dx| at the last position (inf-safe)."""
    last = float(profile[-1])
    signal = float(profile[signal_position])
    if last == 0.0:
        return float("inf") if signal > 0 else float("nan")
    return signal / last


def spectral_radius(kernel: np.ndarray) -> float:
    """Largest |eigenvalue| of a square recurrent kernel; NaN when it is not finite."""
    if not np.all(np.isfinite(kernel)):
        return float("nan")
    return float(np.max(np.abs(np.linalg.eigvals(kernel.astype(np.float64)))))


def signal_grad_ratio_per_sequence(gradients: np.ndarray, positions: np.ndarray) -> float:
    """Mean over sequences of each one's `signal_grad_ratio` at its own signal position
    (`gradients` as `input_gradients` returns them): for tasks whose signal moves, such as
    the adding problem's first marker. Non-finite ratios propagate into the mean."""
    ratios = [signal_grad_ratio(row, int(p)) for row, p in zip(gradients, positions, strict=True)]
    return float(np.mean(ratios))
