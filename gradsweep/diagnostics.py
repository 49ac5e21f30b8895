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


def input_gradient_profile(model: keras.Model, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Mean over the batch of |d loss_i / d x_{i,t}| for every input position t.

    The loss is summed over sequences rather than averaged, so each sequence's gradient is its
    own and the profile does not shrink with the probe size.
    """
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(keras.ops.binary_crossentropy(y, model(x, training=False)))
    return tf.reduce_mean(tf.abs(tape.gradient(loss, x)), axis=[0, 2])


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
