"""`build_model(cfg)`: one recurrent layer and a task's head, with fixed names for its weights;
`objective(task)`: the TensorFlow side of the task's output kind (loss and score).

Output kinds (`tasks.Task.output`):
- binary: Dense(1, sigmoid) on the last state; binary cross-entropy; correct when the
  prediction is on the label's side of 0.5.
- regression: Dense(1) linear on the last state; squared error; correct when the absolute
  error is below the task's `tolerance`.
- sequence: Dense(classes) logits at every step; softmax cross-entropy averaged over the
  steps; the score is the share of the last `scored_steps` steps predicted right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from gradsweep import tasks
from gradsweep.config import TrialConfig

ARCHS = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def build_model(cfg: TrialConfig) -> keras.Model:
    """SimpleRNN, LSTM or GRU with `cfg.hidden` units, then the task's head.

    LSTM and GRU keep Keras's defaults (tanh, sigmoid gates, no recurrent dropout, GRU
    reset_after) so that TensorFlow picks the cuDNN kernel on a GPU. SimpleRNN takes
    `cfg.activation` (tanh, or relu for the IRNN). Every layer is built in `cfg.dtype`,
    whatever Keras's global floatx says, from the initial weights float32 draws.
    """
    keras.utils.set_random_seed(cfg.seed)
    task = tasks.get(cfg.task)
    options = {"activation": cfg.activation} if cfg.arch == "rnn" else {}
    if cfg.arch == "lstm" and cfg.forget_bias != 1.0:
        options = {"unit_forget_bias": False, "bias_initializer": _forget_bias(cfg.forget_bias)}
    recurrent = ARCHS[cfg.arch](
        cfg.hidden,
        recurrent_initializer=cfg.recurrent_init,
        return_sequences=task.output == "sequence",
        name="recurrent",
        dtype=cfg.dtype,
        **options,
    )
    activation = "sigmoid" if task.output == "binary" else None
    model = keras.Sequential(
        [
            keras.Input((cfg.seq_len, task.channels), dtype=cfg.dtype),
            recurrent,
            keras.layers.Dense(task.classes, activation=activation, name="head", dtype=cfg.dtype),
        ],
        name=f"{cfg.arch}_{cfg.hidden}",
    )
    return model if cfg.dtype == "float32" else _float32_init(model, cfg)


def _float32_init(model: keras.Model, cfg: TrialConfig) -> keras.Model:
    """`model` with the initial weights the float32 model of `cfg` draws: Keras's
    initialisers draw other numbers in another dtype, and a dtype should change the
    arithmetic only, not the starting point."""
    twin = build_model(cfg.model_copy(update={"dtype": "float32"}))
    model.set_weights([w.astype(cfg.dtype) for w in twin.get_weights()])
    return model


def _forget_bias(value: float):
    """An LSTM bias initialiser: 0 for the input, candidate and output gates, `value` for
    the forget gate (Keras's gate order i, f, c, o). A large value keeps the cell state,
    and the gradient through it, nearly whole from step to step, as the 1997 LSTM's
    constant error carousel did before forget gates existed (Gers et al. 2000)."""

    def initializer(shape, dtype=None):
        units = shape[0] // 4
        bias = np.zeros(shape, dtype=dtype or "float32")
        bias[units : 2 * units] = value
        return keras.ops.convert_to_tensor(bias, dtype=dtype)

    return initializer


class Objective(NamedTuple):
    """Per-sequence loss and per-sequence score (1 = right) of a model's output."""

    loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    score: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def objective(task_name: str) -> Objective:
    """The loss and score of `task_name`'s output kind; both map (y, out) to shape (n,),
    in `out`'s dtype."""
    task = tasks.get(task_name)
    if task.output == "binary":

        def loss(y, out):
            return tf.reshape(keras.ops.binary_crossentropy(y, out), [-1])

        def score(y, out):
            return tf.cast(tf.equal(out[:, 0] > 0.5, y[:, 0] > 0.5), out.dtype)

    elif task.output == "regression":
        tolerance = task.tolerance

        def loss(y, out):
            return tf.square(out[:, 0] - y[:, 0])

        def score(y, out):
            return tf.cast(tf.abs(out[:, 0] - y[:, 0]) < tolerance, out.dtype)

    else:
        steps = task.scored_steps

        def loss(y, out):
            per_step = keras.ops.sparse_categorical_crossentropy(y, out, from_logits=True)
            return tf.reduce_mean(per_step, axis=1)

        def score(y, out):
            guess = tf.argmax(out[:, -steps:], axis=-1, output_type=tf.int32)
            right = tf.equal(guess, y[:, -steps:])
            return tf.reduce_mean(tf.cast(right, out.dtype), axis=1)

    return Objective(loss, score)


def variable_groups(model: keras.Model) -> list[str]:
    """The group name of each trainable variable, in `model.trainable_variables` order."""
    cell = model.get_layer("recurrent").cell
    named = {id(cell.kernel): "input_kernel", id(cell.recurrent_kernel): "recurrent_kernel"}
    if cell.use_bias:
        named[id(cell.bias)] = "bias"
    return [named.get(id(v), "head") for v in model.trainable_variables]


def candidate_recurrent_kernel(model: keras.Model, arch: str):
    """The recurrent kernel block that feeds the candidate state (the whole kernel for rnn).

    Keras stacks gate blocks along the last axis: LSTM as (i, f, c, o), GRU as (z, r, h);
    the candidate is the third block in both.
    """
    kernel = model.get_layer("recurrent").cell.recurrent_kernel.numpy()
    if arch == "rnn":
        return kernel
    hidden = kernel.shape[0]
    return kernel[:, 2 * hidden : 3 * hidden]
