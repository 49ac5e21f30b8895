"""The literature's cells (gradsweep/cells.py): each step against a NumPy step written here,
and each keeping its defining property through training."""

import keras
import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from gradsweep import TrialConfig
from gradsweep.cells import indrnn_bound
from gradsweep.config import VARIABLE_GROUPS
from gradsweep.models import build_model, recurrent_matrix, variable_groups

RNG = np.random.default_rng(3)


def _cell(cfg: TrialConfig):
    return build_model(cfg).get_layer("recurrent").cell


def _step(cell, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    cell.begin_sequence()
    out, _ = cell.call(tf.constant(x, tf.float32), [tf.constant(h, tf.float32)])
    return out.numpy()


def _urnn_w(cell) -> np.ndarray:
    """W = D3 R2 F^-1 D2 Pi R1 F D1 as complex matrices (Arjovsky et al. 2016, eq. 6), with
    the authors' reflection about conj(v) and F the unitary DFT."""
    n = cell.units
    theta, refl = cell.theta.numpy().astype(np.float64), cell.reflection.numpy()
    d = [np.diag(np.exp(1j * theta[k])) for k in range(3)]
    f = np.fft.fft(np.eye(n), axis=0) / np.sqrt(n)
    r = []
    for k in range(2):
        v = refl[k, :n] + 1j * refl[k, n:]
        r.append(np.eye(n) - 2 * np.outer(v.conj(), v) / np.sum(np.abs(v) ** 2))
    pi = np.eye(n)[cell.permutation]  # (Pi z)_i = z_perm[i]
    return d[2] @ r[1] @ f.conj().T @ d[1] @ pi @ r[0] @ f @ d[0]


def test_urnn_step_matches_numpy():
    cell = _cell(TrialConfig(arch="urnn", hidden=4, gap=1, seq_len=3))
    x, h = RNG.normal(size=(2, 1)), RNG.normal(size=(2, 8))
    n, w, v = 4, _urnn_w(cell), cell.kernel.numpy()
    z = (h[:, :n] + 1j * h[:, n:]) @ w.T + x @ (v[:, :n] + 1j * v[:, n:])
    scale = np.maximum(np.abs(z) + cell.bias.numpy(), 0) / (np.abs(z) + 1e-5)  # modReLU
    expected = np.concatenate([(z * scale).real, (z * scale).imag], axis=1)
    np.testing.assert_allclose(_step(cell, x, h), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w @ w.conj().T, np.eye(n), atol=1e-5)  # unitary


def test_exprnn_step_matches_numpy():
    cell = _cell(TrialConfig(arch="exprnn", hidden=5, gap=1, seq_len=3))
    x, h = RNG.normal(size=(2, 1)), RNG.normal(size=(2, 5))
    upper = np.triu(cell.skew.numpy().astype(np.float64), 1)
    w = scipy.linalg.expm(upper - upper.T)
    z = h @ w + x @ cell.kernel.numpy()
    expected = np.sign(z) * np.maximum(np.abs(z) + cell.bias.numpy(), 0)
    np.testing.assert_allclose(_step(cell, x, h), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("init", ["henaff", "cayley"])
def test_exprnn_starts_from_their_block_diagonal_skew_matrix(init):
    skew = _cell(TrialConfig(arch="exprnn", hidden=6, recurrent_init=init)).skew.numpy()
    off = skew.copy()
    off[[0, 2, 4], [1, 3, 5]] = 0
    off[[1, 3, 5], [0, 2, 4]] = 0
    np.testing.assert_array_equal(off, 0)  # only the 2x2 blocks' angles
    angles = skew[[0, 2, 4], [1, 3, 5]]
    np.testing.assert_array_equal(skew[[1, 3, 5], [0, 2, 4]], -angles)
    low, high = (-np.pi, np.pi) if init == "henaff" else (-1.0, 0.0)  # cayley: -tan(s/2)
    assert np.all((angles >= low) & (angles <= high))


def test_indrnn_step_matches_numpy():
    cell = _cell(TrialConfig(arch="indrnn", hidden=4, gap=3, seq_len=6))
    x, h = RNG.normal(size=(2, 1)), RNG.normal(size=(2, 4))
    u = cell.recurrent_kernel.numpy()
    expected = np.maximum(x @ cell.kernel.numpy() + u * h + cell.bias.numpy(), 0)
    np.testing.assert_allclose(_step(cell, x, h), expected, rtol=1e-5, atol=1e-6)
    assert np.all((u >= 0) & (u <= 2 ** (1 / 3)))  # U[0, 2^(1/T)], T = gap


def test_indrnn_bound_is_the_authors():
    assert indrnn_bound(100, "relu") == pytest.approx(2 ** (1 / 100))
    assert indrnn_bound(100, "tanh") == pytest.approx((2 / 0.9**10) ** (1 / 100))


@pytest.mark.parametrize("arch", ["urnn", "exprnn", "indrnn"])
def test_every_variable_has_its_group(arch):
    model = build_model(TrialConfig(arch=arch, hidden=4, gap=1, seq_len=3))
    groups = variable_groups(model)
    assert sorted(set(groups)) == sorted(VARIABLE_GROUPS)
    assert groups.count("head") == 2  # the Dense kernel and bias, nothing else


def _train(model, steps: int, lr: float) -> None:
    """`steps` Adam steps on a loss that pulls every output up, with the cells' constraints."""
    x = tf.constant(RNG.normal(size=(8, 5, 1)), tf.float32)
    optimizer = keras.optimizers.Adam(lr)
    variables = model.trainable_variables

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(model(x, training=True))
        optimizer.apply(tape.gradient(loss, variables), variables)

    for _ in range(steps):
        step()


@pytest.mark.slow  # 100 compiled steps: 3-9 s each on 2 busy cores
@pytest.mark.parametrize("arch", ["urnn", "exprnn"])
def test_unitary_and_orthogonal_stay_so_through_training(arch):
    model = build_model(TrialConfig(arch=arch, hidden=6, gap=1, seq_len=5))
    before = recurrent_matrix(model)
    _train(model, 100, 0.05)
    after = recurrent_matrix(model)
    assert np.max(np.abs(after - before)) > 0.1  # it did move
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(after.astype(np.float64))), 1, atol=1e-4)


@pytest.mark.slow
def test_indrnn_weights_stay_within_their_bound_through_training():
    cfg = TrialConfig(arch="indrnn", hidden=6, gap=4, seq_len=5)
    model = build_model(cfg)
    _train(model, 100, 0.05)  # the loss pushes u up, against the bound
    u = np.abs(model.get_layer("recurrent").cell.recurrent_kernel.numpy())
    bound = 2 ** (1 / 4)
    assert np.all(u <= bound + 1e-6) and np.isclose(u.max(), bound)  # the bound was hit
