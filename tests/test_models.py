import numpy as np
import pytest

from gradsweep import TrialConfig
from gradsweep.models import build_model, candidate_recurrent_kernel, objective, variable_groups


@pytest.mark.parametrize(("arch", "blocks"), [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_shapes_groups_and_candidate_block(arch, blocks):
    cfg = TrialConfig(arch=arch, hidden=6, gap=2, seq_len=7)
    model = build_model(cfg)
    assert model.output_shape == (None, 1)
    out = model(np.zeros((3, 7, 1), np.float32))
    assert out.shape == (3, 1) and np.all((out.numpy() > 0) & (out.numpy() < 1))
    cell = model.get_layer("recurrent").cell
    assert cell.recurrent_kernel.shape == (6, 6 * blocks)
    assert sorted(set(variable_groups(model))) == [
        "bias",
        "head",
        "input_kernel",
        "recurrent_kernel",
    ]
    assert candidate_recurrent_kernel(model, arch).shape == (6, 6)


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_gated_cells_stay_cudnn_eligible(arch):
    layer = build_model(TrialConfig(arch=arch, hidden=4, gap=1, seq_len=3)).get_layer("recurrent")
    cell = layer.cell
    assert cell.activation.__name__ == "tanh"
    assert cell.recurrent_activation.__name__ == "sigmoid"
    assert cell.recurrent_dropout == 0 and not layer.unroll and cell.use_bias
    if arch == "gru":
        assert cell.reset_after


def test_identity_init_gives_identity_recurrent_kernel():
    model = build_model(TrialConfig(hidden=5, gap=1, seq_len=3, recurrent_init="identity"))
    np.testing.assert_allclose(candidate_recurrent_kernel(model, "rnn"), np.eye(5))


def test_same_seed_same_weights():
    a = build_model(TrialConfig(arch="lstm", hidden=4, gap=1, seq_len=3, seed=5)).get_weights()
    b = build_model(TrialConfig(arch="lstm", hidden=4, gap=1, seq_len=3, seed=5)).get_weights()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_irnn_is_a_relu_rnn_whose_recurrent_kernel_starts_at_the_identity():
    cfg = TrialConfig(arch="rnn", activation="relu", recurrent_init="identity", hidden=5)
    cell = build_model(cfg).get_layer("recurrent").cell
    assert cell.activation.__name__ == "relu"
    np.testing.assert_array_equal(cell.recurrent_kernel.numpy(), np.eye(5))
    x = np.random.default_rng(0).normal(size=(2, 3, 1)).astype(np.float32)
    # h_t = relu(x_t W + h_{t-1} I + b) with b = 0, written out in numpy
    w, h = cell.kernel.numpy(), np.zeros((2, 5))
    for t in range(3):
        h = np.maximum(x[:, t] @ w + h, 0)
    np.testing.assert_allclose(build_model(cfg).layers[0](x).numpy(), h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("task", "gap", "seq_len", "out_shape"),
    [("adding", None, 9, (None, 1)), ("copy", 3, 23, (None, 23, 10))],
)
def test_heads_of_the_literature_tasks(task, gap, seq_len, out_shape):
    cfg = TrialConfig(task=task, arch="gru", hidden=4, gap=gap, seq_len=seq_len)
    model = build_model(cfg)
    assert model.input_shape == (None, seq_len, 2 if task == "adding" else 10)
    assert model.output_shape == out_shape
    assert model.get_layer("head").activation.__name__ == "linear"  # MSE, or logits


def test_regression_loss_and_score_against_numpy():
    y = np.array([[1.0], [0.5], [1.2], [0.0]], np.float32)
    out = np.array([[1.05], [0.62], [1.2], [-0.0799]], np.float32)
    obj = objective("adding")
    np.testing.assert_allclose(obj.loss(y, out).numpy(), ((out - y) ** 2)[:, 0], rtol=1e-6)
    np.testing.assert_array_equal(obj.score(y, out).numpy(), [1, 0, 1, 1])  # |err| < 0.08


def test_sequence_loss_and_score_against_numpy():
    rng = np.random.default_rng(0)
    n, steps = 3, 14
    logits = rng.normal(size=(n, steps, 10)).astype(np.float32)
    y = rng.integers(0, 10, size=(n, steps)).astype(np.int32)
    obj = objective("copy")
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.take_along_axis(log_p, y[..., None], -1)[..., 0].mean(axis=1)
    np.testing.assert_allclose(obj.loss(y, logits).numpy(), expected, rtol=1e-5)
    right = logits.argmax(-1)[:, -10:] == y[:, -10:]  # only the last 10 steps count
    np.testing.assert_allclose(obj.score(y, logits).numpy(), right.mean(axis=1))
    y[:, :-10] = (logits.argmax(-1)[:, :-10] + 1) % 10  # wrong before the last 10: no effect
    np.testing.assert_allclose(obj.score(y, logits).numpy(), right.mean(axis=1))


def test_forget_bias_sets_the_forget_gate_block_of_an_lstm_bias():
    cell = build_model(TrialConfig(arch="lstm", hidden=3, forget_bias=5.0)).get_layer("recurrent")
    bias = cell.cell.bias.numpy().reshape(4, 3)  # gate blocks i, f, c, o
    np.testing.assert_array_equal(bias, [[0] * 3, [5] * 3, [0] * 3, [0] * 3])
    default = build_model(TrialConfig(arch="lstm", hidden=3)).get_layer("recurrent").cell
    np.testing.assert_array_equal(default.bias.numpy().reshape(4, 3)[1], [1, 1, 1])  # Keras's


def test_a_large_forget_bias_lets_more_gradient_reach_a_distant_signal():
    """With the forget gate nearly open, the cell keeps its state: the gradient at the
    recalled bit, relative to the last input, is larger at init than with Keras's bias 1."""
    from gradsweep.loop import Trainer

    ratios = {
        bias: Trainer(TrialConfig(arch="lstm", hidden=8, gap=60, seq_len=65, forget_bias=bias,
                                  probe_size=32)).probe().signal_grad_ratio
        for bias in (1.0, 5.0)
    }  # fmt: skip
    assert ratios[5.0] > 100 * ratios[1.0]


def test_a_float64_model_starts_from_the_float32_models_weights_whatever_floatx_says():
    import keras

    cfg = TrialConfig(arch="lstm", hidden=4, gap=2, seq_len=5)
    single = build_model(cfg)
    keras.config.set_floatx("float64")  # a user's keras.json may say so
    try:
        also_single = build_model(cfg)
        double = build_model(cfg.model_copy(update={"dtype": "float64"}))
    finally:
        keras.config.set_floatx("float32")
    assert {str(w.dtype) for w in also_single.get_weights()} == {"float32"}
    assert {str(w.dtype) for w in double.get_weights()} == {"float64"}
    weights = (single.get_weights(), also_single.get_weights(), double.get_weights())
    for a, b, c in zip(*weights, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a.astype(np.float64), c)
