"""Gradient measurements against expectations computed here: second tapes, numpy, by hand."""

import numpy as np
import pytest
import tensorflow as tf

from gradsweep import TrialConfig, diagnostics, tasks
from gradsweep.config import VARIABLE_GROUPS
from gradsweep.loop import Trainer
from gradsweep.models import build_model, objective, recurrent_matrix, variable_groups
from tests.helpers import bce

ARCHS = ["rnn", "lstm", "gru"]


def group_by_shape(variable, arch: str, hidden: int) -> str:
    """Which weight a variable is, told from its shape alone (input dimension 1 here)."""
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[arch] * hidden
    shapes = {
        (1, gates): "input_kernel",
        (hidden, gates): "recurrent_kernel",
        (gates,): "bias",
        (2, gates): "bias",  # GRU with reset_after keeps two bias rows
        (hidden, 1): "head",
        (1,): "head",
    }
    return shapes[tuple(variable.shape)]


# --- gradient norms -------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
def test_global_and_group_norms_match_norms_of_the_tapes_gradients(arch):
    cfg = TrialConfig(arch=arch, hidden=6, gap=2, seq_len=5)
    model = build_model(cfg)
    x, y = _batch(cfg, 16)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(bce(y, model(x)))
    grads = tape.gradient(loss, model.trainable_variables)
    expected = dict.fromkeys(VARIABLE_GROUPS, 0.0)
    for variable, grad in zip(model.trainable_variables, grads, strict=True):
        expected[group_by_shape(variable, arch, 6)] += float(np.sum(grad.numpy() ** 2))
    ids = tf.constant([VARIABLE_GROUPS.index(g) for g in variable_groups(model)])
    norm, per_group = diagnostics.gradient_norms(grads, ids)
    assert float(norm) == pytest.approx(np.sqrt(sum(expected.values())), rel=1e-5)
    for name, value in zip(VARIABLE_GROUPS, per_group.numpy(), strict=True):
        assert value == pytest.approx(np.sqrt(expected[name]), rel=1e-5), name
        assert value > 0, name  # every group has gradient, and so is mapped somewhere


# --- the gradient reaching each input -------------------------------------------------


def _batch(cfg: TrialConfig, n: int):
    split = tasks.generate(cfg.task, n, cfg.seq_len, np.random.default_rng(7), cfg.gap)
    return tf.constant(split.x), tf.constant(split.y)


@pytest.mark.parametrize("arch", ARCHS)
def test_profile_is_the_mean_absolute_gradient_of_each_sequences_own_loss(arch):
    cfg = TrialConfig(arch=arch, hidden=4, gap=2, seq_len=6)
    model = build_model(cfg)
    x, y = _batch(cfg, 5)
    profile = diagnostics.input_gradient_profile(model, x, y, objective("recall").loss).numpy()
    own = []
    for i in range(5):  # one sequence at a time: its loss, its inputs
        xi = tf.Variable(x[i : i + 1])
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(bce(y[i : i + 1], model(xi)))
        own.append(np.abs(tape.gradient(loss, xi).numpy()[0, :, 0]))
    np.testing.assert_allclose(profile, np.mean(own, axis=0), rtol=1e-4, atol=1e-9)
    assert profile.shape == (6,)


def test_profile_agrees_with_finite_differences():
    cfg = TrialConfig(arch="rnn", hidden=4, gap=2, seq_len=5)
    model = build_model(cfg)
    x, y = _batch(cfg, 4)
    profile = diagnostics.input_gradient_profile(model, x, y, objective("recall").loss).numpy()
    h = 1e-2
    for t in range(5):
        bump = np.zeros(x.shape, np.float32)
        bump[:, t, 0] = h  # every sequence's input t at once: each loss sees only its own
        up = bce(y, model(x + bump)).numpy()
        down = bce(y, model(x - bump)).numpy()
        estimate = np.mean(np.abs((up - down) / (2 * h)))
        assert profile[t] == pytest.approx(estimate, rel=2e-2, abs=1e-5), t


def test_signal_grad_ratio_on_hand_made_profiles():
    profile = np.array([1.0, 2.0, 4.0])
    assert diagnostics.signal_grad_ratio(profile, 0) == 0.25  # signal over last, not inverted
    assert diagnostics.signal_grad_ratio(profile, 1) == 0.5
    assert diagnostics.signal_grad_ratio(np.array([3.0, 0.0]), 0) == float("inf")
    assert np.isnan(diagnostics.signal_grad_ratio(np.array([0.0, 0.0]), 0))
    assert np.isnan(diagnostics.signal_grad_ratio(np.array([np.nan, 1.0]), 0))
    assert np.isnan(diagnostics.signal_grad_ratio(np.array([1.0, np.nan]), 0))
    assert diagnostics.signal_grad_ratio(np.array([1.0, np.inf]), 0) == 0.0


def test_probe_takes_the_ratio_at_the_recalled_input():
    cfg = TrialConfig(arch="rnn", hidden=8, gap=3, seq_len=9, probe_size=32)
    probe = Trainer(cfg).probe()
    profile = np.array(probe.grad_profile)
    assert len(profile) == 9
    signal = 9 - 3 - 1  # the label is x[seq_len - gap - 1]
    assert probe.signal_grad_ratio == profile[signal] / profile[-1]


@pytest.mark.parametrize("seed", [0, 1])
def test_at_init_a_longer_gap_gets_a_smaller_share_of_the_gradient(seed):
    def ratio(gap: int) -> float:
        cfg = TrialConfig(arch="rnn", hidden=16, gap=gap, seq_len=gap + 3, seed=seed)
        return Trainer(cfg).probe().signal_grad_ratio

    short, long = ratio(2), ratio(30)
    assert 0 < long < short


# --- spectral radius -------------------------------------------------------------------


def _rotation(hidden: int, radius: float) -> np.ndarray:
    """A non-symmetric matrix whose eigenvalues all have modulus `radius`."""
    block = radius * np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    return np.kron(np.eye(hidden // 2), block).astype(np.float32)


@pytest.mark.parametrize(("arch", "blocks"), [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_spectral_radius_is_that_of_the_candidate_block(arch, blocks):
    """Keras orders gate blocks along the last axis: LSTM (i, f, c, o), GRU (z, r, h)
    (keras/src/layers/rnn/lstm.py and gru.py, Keras 3.15): the candidate is the third."""
    hidden = 6
    model = build_model(TrialConfig(arch=arch, hidden=hidden, gap=2, seq_len=5))
    candidate = _rotation(hidden, 0.7)
    others = 3.0 * np.eye(hidden, dtype=np.float32)  # radius 3: must not be the one measured
    parts = [others] * blocks
    parts[2 if blocks > 1 else 0] = candidate
    model.get_layer("recurrent").cell.recurrent_kernel.assign(np.concatenate(parts, axis=1))
    measured = diagnostics.spectral_radius(recurrent_matrix(model))
    expected = np.max(np.abs(np.linalg.eigvals(candidate.astype(np.float64))))
    assert measured == pytest.approx(expected, rel=1e-6) and expected == pytest.approx(0.7)


def test_spectral_radius_of_hand_made_kernels():
    assert diagnostics.spectral_radius(np.diag([0.5, -0.9, 0.3])) == pytest.approx(0.9)
    assert diagnostics.spectral_radius(np.array([[0.0, 2.0], [-2.0, 0.0]])) == pytest.approx(2.0)
    assert np.isnan(diagnostics.spectral_radius(np.array([[np.nan, 0.0], [0.0, 1.0]])))
    assert np.isnan(diagnostics.spectral_radius(np.array([[np.inf, 0.0], [0.0, 1.0]])))


def test_per_sequence_ratio_takes_each_sequence_at_its_own_signal():
    gradients = np.array([[4.0, 1.0, 2.0], [1.0, 6.0, 3.0]])
    # sequence 0 at position 0: 4 / 2; sequence 1 at position 1: 6 / 3; mean 2
    assert diagnostics.signal_grad_ratio_per_sequence(gradients, np.array([0, 1])) == 2.0
    assert diagnostics.signal_grad_ratio_per_sequence(gradients, np.array([2, 2])) == 1.0
    with_zero = np.array([[1.0, 0.0], [1.0, 1.0]])
    assert diagnostics.signal_grad_ratio_per_sequence(with_zero, np.array([0, 0])) == np.inf


def test_adding_probe_ratio_is_at_each_sequences_first_marker():
    cfg = TrialConfig(task="adding", arch="lstm", hidden=4, seq_len=8, probe_size=6)
    trainer = Trainer(cfg)
    probe = trainer.data.probe
    per_sequence = []
    for i in range(len(probe)):  # one sequence at a time, with a tape of its own
        xi = tf.Variable(probe.x[i : i + 1])
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(trainer.model(xi)[:, 0] - probe.y[i, 0]))
        grad = np.abs(tape.gradient(loss, xi).numpy()[0]).mean(axis=-1)
        per_sequence.append(grad[probe.signal[i]] / grad[-1])
    measured = trainer.probe()
    assert measured.signal_grad_ratio == pytest.approx(np.mean(per_sequence), rel=1e-4)
    assert len(measured.grad_profile) == 8


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_float64_keeps_a_signal_ratio_that_float32_flushes_to_zero():
    """SimpleRNN with Keras's random_normal recurrent init (std 0.05, so the gradient
    shrinks fast with the gap), gap 40, at init. Measured here: float32 gives a ratio of 0
    (the gradient at the signal, about 3e-40 in float64, is below float32's smallest normal
    number and is flushed to zero); float64 gives 1.96e-38 from the same weights. At gap
    30, where float32 still has it, the two agree to 6 digits (1.1029e-28)."""

    def ratio(gap: int, dtype: str) -> float:
        cfg = TrialConfig(
            arch="rnn", hidden=8, gap=gap, seq_len=gap + 2, recurrent_init="random_normal",
            dtype=dtype, batch_size=32, train_size=32, val_size=8, test_size=8, probe_size=16,
        )  # fmt: skip
        return Trainer(cfg).probe().signal_grad_ratio

    assert ratio(30, "float32") == pytest.approx(ratio(30, "float64"), rel=1e-5)
    single, double = ratio(40, "float32"), ratio(40, "float64")
    assert single == 0.0 or single < np.finfo(np.float32).tiny  # zero or subnormal
    assert np.finfo(np.float64).tiny < double < 1e-30  # a normal float64 number
