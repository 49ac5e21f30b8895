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

from gradsweep import cells, tasks
from gradsweep.archs import ARCHS
from gradsweep.config import TrialConfig

_KERAS = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def build_model(cfg: TrialConfig) -> keras.Model:
    """The recurrent layer `cfg.arch` names (always named "recurrent") with `cfg.hidden` units,
    then the task's head.

    LSTM and GRU keep Keras's defaults (tanh, sigmoid gates, no recurrent dropout, GRU
    reset_after) so that TensorFlow picks the cuDNN kernel on a GPU. SimpleRNN takes
    `cfg.activation` (tanh, or relu for the IRNN). urnn, exprnn and indrnn are the cells of
    `cells.py`, run by `cells.SequenceRNN`. Every layer is built in `cfg.dtype`, whatever
    Keras's global floatx says, from the initial weights float32 draws.
    """
    keras.utils.set_random_seed(cfg.seed)
    task = tasks.get(cfg.task)
    sequences = task.output == "sequence"
    if cfg.arch in _KERAS:
        recurrent = _keras_layer(cfg, sequences)
    else:
        recurrent = cells.SequenceRNN(
            _cell(cfg), return_sequences=sequences, name="recurrent", dtype=cfg.dtype
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


def _cell(cfg: TrialConfig) -> keras.layers.Layer:
    """The cell of a literature arch (`cells.py`)."""
    if cfg.arch == "urnn":
        return cells.URNNCell(cfg.hidden, cfg.seed, dtype=cfg.dtype)
    if cfg.arch == "exprnn":
        return cells.ExpRNNCell(cfg.hidden, cfg.seed, cfg.recurrent_init, dtype=cfg.dtype)
    return cells.IndRNNCell(cfg.hidden, cfg.dependency_length, cfg.activation, dtype=cfg.dtype)


def _keras_layer(cfg: TrialConfig, sequences: bool) -> keras.layers.Layer:
    """Keras's SimpleRNN, LSTM or GRU with gradsweep's recurrent and gate initialisation."""
    options = {"activation": cfg.activation} if cfg.arch == "rnn" else {}
    if cfg.gate_init == "chrono":
        t_max = cfg.chrono_t_max or cfg.dependency_length
        options = {"bias_initializer": _chrono_bias(t_max, cfg.arch == "gru", cfg.seed)}
    elif cfg.forget_bias != 1.0:
        options = {"bias_initializer": _forget_bias(cfg.forget_bias)}
    if "bias_initializer" in options and cfg.arch == "lstm":
        options["unit_forget_bias"] = False
    return _KERAS[cfg.arch](
        cfg.hidden,
        recurrent_initializer=_recurrent_initializer(cfg),
        return_sequences=sequences,
        name="recurrent",
        dtype=cfg.dtype,
        **options,
    )


def _recurrent_initializer(cfg: TrialConfig):
    """Keras's initialiser by name where it means what it says (any SimpleRNN init, the
    element-wise random ones, orthogonal_fused); per gate block for orthogonal and identity
    on LSTM/GRU, so every (hidden, hidden) block is orthogonal or the identity; and each
    block rescaled to spectral radius `recurrent_gain` when that is set."""
    blocks = ARCHS[cfg.arch].blocks
    name = "orthogonal" if cfg.recurrent_init == "orthogonal_fused" else cfg.recurrent_init
    per_block = blocks > 1 and cfg.recurrent_init in ("orthogonal", "identity")
    if not per_block and cfg.recurrent_gain is None:
        return name

    def initializer(shape, dtype=None):
        if per_block:  # a seed per block: one seeded initialiser would repeat its draw
            seeds = np.random.default_rng([cfg.seed, 0xB10C]).integers(2**31, size=blocks)
            square = (shape[0], shape[0])
            drawn = [_named(name, int(seed))(square, dtype="float32") for seed in seeds]
            kernel = np.concatenate([np.asarray(d) for d in drawn], axis=1)
        else:
            kernel = np.asarray(keras.initializers.get(name)(shape, dtype="float32"))
        if cfg.recurrent_gain is not None:
            kernel = _with_radius(kernel, blocks, cfg.recurrent_gain)
        return keras.ops.convert_to_tensor(kernel, dtype=dtype)

    return initializer


def _named(name: str, seed: int) -> keras.initializers.Initializer:
    """Keras's initialiser `name` (orthogonal or identity), seeded where it draws."""
    if name == "identity":
        return keras.initializers.Identity()
    return keras.initializers.Orthogonal(seed=seed)


def _with_radius(kernel: np.ndarray, blocks: int, gain: float) -> np.ndarray:
    """Each square block of `kernel` (hidden, blocks * hidden) scaled to spectral radius
    `gain` (Pascanu et al. 2013, Section 2: the radius decides vanishing or exploding)."""
    hidden = kernel.shape[0]
    out = np.array(kernel, dtype=np.float64)
    for b in range(blocks):
        block = out[:, b * hidden : (b + 1) * hidden]
        radius = np.max(np.abs(np.linalg.eigvals(block)))
        if radius > 0:  # a nilpotent block has no scale to set
            out[:, b * hidden : (b + 1) * hidden] = block * (gain / radius)
    return out


def _chrono_bias(t_max: int, gru: bool, seed: int):
    """Chrono initialisation (Tallec & Ollivier 2018; the formula as `0h-n0/chrono_initialization`
    implements it for the LSTM, its source paper not read here): forget-gate bias
    log U[1, t_max - 1] per unit, input-gate bias its negative, the rest 0.

    LSTM (Keras's gate order i, f, c, o; one bias vector): b_f = log U, b_i = -b_f. GRU
    (Keras: h = z * h_prev + (1 - z) * candidate, biases (2, 3 * hidden) with reset_after):
    z keeps the old state, so z is the forget gate and 1 - z the input gate; one bias
    b_z = log U on the input-side row does both (our reading, for the GRU)."""

    def initializer(shape, dtype=None):
        hidden = shape[-1] // (3 if gru else 4)
        draw = np.random.default_rng([seed, 0xC4]).uniform(1.0, max(t_max - 1.0, 1.0), hidden)
        forget = np.log(draw)
        bias = np.zeros(shape, dtype=np.float64)
        if gru:
            bias[0, :hidden] = forget
        else:
            bias[:hidden], bias[hidden : 2 * hidden] = -forget, forget
        return keras.ops.convert_to_tensor(bias, dtype=dtype)

    return initializer


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
    named = {id(v): group for group, vs in _cell_groups(model).items() for v in vs}
    return [named.get(id(v), "head") for v in model.trainable_variables]


def recurrent_matrix(model: keras.Model) -> np.ndarray:
    """The square matrix whose spectral radius the tables report: the whole kernel of a
    SimpleRNN; the candidate block of an LSTM or GRU (Keras stacks gate blocks along the
    last axis, LSTM as (i, f, c, o), GRU as (z, r, h): the third in both); for the cells
    of `cells.py`, their own `recurrent_matrix()` (uRNN: W's real (2n, 2n) form)."""
    cell = model.get_layer("recurrent").cell
    if hasattr(cell, "recurrent_matrix"):
        return cell.recurrent_matrix()
    kernel = cell.recurrent_kernel.numpy()
    hidden = kernel.shape[0]
    return kernel if kernel.shape[1] == hidden else kernel[:, 2 * hidden : 3 * hidden]


def _cell_groups(model: keras.Model) -> dict[str, list]:
    """The recurrent cell's variables by group: its own `variable_groups()`, or Keras's
    kernel, recurrent_kernel and bias."""
    cell = model.get_layer("recurrent").cell
    if hasattr(cell, "variable_groups"):
        return cell.variable_groups()
    groups = {"input_kernel": [cell.kernel], "recurrent_kernel": [cell.recurrent_kernel]}
    return {**groups, "bias": [cell.bias]} if cell.use_bias else groups
