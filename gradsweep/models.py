"""`build_model(cfg)`: one recurrent layer and a sigmoid head, with fixed names for its weights."""

from __future__ import annotations

import keras

from gradsweep.config import TrialConfig

ARCHS = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def build_model(cfg: TrialConfig) -> keras.Model:
    """SimpleRNN, LSTM or GRU with `cfg.hidden` units, then Dense(1, sigmoid).

    LSTM and GRU keep Keras's defaults (tanh, sigmoid gates, no recurrent dropout, GRU
    reset_after) so that TensorFlow picks the cuDNN kernel on a GPU.
    """
    keras.utils.set_random_seed(cfg.seed)
    recurrent = ARCHS[cfg.arch](
        cfg.hidden, recurrent_initializer=cfg.recurrent_init, name="recurrent"
    )
    return keras.Sequential(
        [
            keras.Input((cfg.seq_len, 1)),
            recurrent,
            keras.layers.Dense(1, activation="sigmoid", name="head"),
        ],
        name=f"{cfg.arch}_{cfg.hidden}",
    )


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
