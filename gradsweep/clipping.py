"""Gradient clipping in the three modes a `TrialConfig` may ask for (`clip_mode`).

Pure functions on tensors, compiled by their caller (`loop.train_step`).
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from gradsweep.config import ClipMode


class Clipping(NamedTuple):
    """How a step's gradients are clipped: `mode` (config.ClipMode) at `threshold`
    (`clip_norm`; None = off)."""

    threshold: float | None = None
    mode: ClipMode = "global_norm"


def clip_gradients(
    grads: list[tf.Tensor], clipping: Clipping, norm: tf.Tensor
) -> tuple[list[tf.Tensor], tf.Tensor]:
    """`grads` clipped as `clipping` says, and the step's clip measure (the share that
    `clip_fraction` averages over the epoch's steps):

    - global_norm: all gradients scaled by clip_norm / max(norm, clip_norm), `norm` being
      their global norm (Pascanu et al. 2013); 1 when norm > clip_norm, else 0.
    - per_variable: each variable's gradient g scaled by clip_norm / max(|g|, clip_norm)
      on its own (Keras's `clipnorm`); 1 when any variable's |g| > clip_norm, else 0.
    - value: each entry clipped into [-clip_norm, clip_norm] (Arjovsky et al. 2016's
      code); the share of the step's gradient entries with |entry| > clip_norm.
    """
    threshold, mode = clipping
    zero = tf.zeros([], norm.dtype)
    if threshold is None:
        return grads, zero
    if mode == "global_norm":
        clipped, _ = tf.clip_by_global_norm(grads, threshold, use_norm=norm)
        return clipped, tf.cast(norm > threshold, norm.dtype)
    if mode == "per_variable":
        over = tf.stack([tf.norm(g) > threshold for g in grads])
        clipped = [tf.clip_by_norm(g, threshold) for g in grads]
        return clipped, tf.cast(tf.reduce_any(over), norm.dtype)
    entries = tf.add_n([tf.size(g) for g in grads])
    over = tf.add_n([tf.math.count_nonzero(tf.abs(g) > threshold, dtype=tf.int32) for g in grads])
    clipped = [tf.clip_by_value(g, -threshold, threshold) for g in grads]
    return clipped, tf.cast(over, norm.dtype) / tf.cast(entries, norm.dtype)
