"""Recurrent cells from the literature's remedies, as Keras RNN cells: `URNNCell`, `ExpRNNCell`,
`IndRNNCell`, and `SequenceRNN`, the `keras.layers.RNN` that runs them.

Every cell answers two questions the rest of gradsweep asks (`models.variable_groups`,
`models.recurrent_matrix`), so nothing outside the model layer looks at arch names:
- `variable_groups()`: its variables by `config.VARIABLE_GROUPS` name;
- `recurrent_matrix()`: the square real matrix that carries the state from step to step
  (its spectral radius is what the tables report).

Cells whose recurrent matrix is a function of their parameters (uRNN, expRNN) build it once
per sequence (`begin_sequence`), not once per step: the same matrix, far cheaper.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

# modReLU's guard against dividing by a zero modulus: the authors' `complex_RNN` (models.py of
# amarshah/complex_RNN) divides by (|z| + 1e-5).
MODRELU_EPS = 1e-5
# Under the square root of |z|: keeps d|z|/dz finite at z = 0 (a unit that relu zeroed, fed
# nothing by the other units and the input).
_MODULUS_FLOOR = 1e-12


class SequenceRNN(keras.layers.RNN):
    """`keras.layers.RNN` that lets its cell build per-sequence constants (`begin_sequence`)
    before the step loop, so the loop closes over them instead of rebuilding them every step."""

    def call(self, sequences, initial_state=None, mask=None, training=False):
        self.cell.begin_sequence()
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)


class URNNCell(keras.layers.Layer):
    """The unitary RNN of Arjovsky, Shah & Bengio 2016 (read in their draft, amarshah/complex_RNN
    `paper/uRNN/uRNN.tex`: the parametrisation, and "Architecture details" for modReLU, the
    complex units and the output):

        z_t = W h_{t-1} + V x_t,   W = D3 R2 F^-1 D2 Pi R1 F D1,   h_t = modReLU(z_t, b),

    D_k = diag(exp(i theta_k)), R_k = I - 2 v_k v_k^* / |v_k|^2 (complex reflections), Pi a
    fixed random permutation, F the unitary DFT (numpy's FFT / sqrt(n)); modReLU(z) =
    z * relu(|z| + b) / (|z| + eps). `units` complex units; the state and the output are
    [Re h, Im h] (2 * units reals), which the head reads, as the authors' U (2n, out) does.

    As the authors' code (amarshah/complex_RNN, models.py, `complex_RNN`): V_re, V_im and the
    reflections Glorot-uniform, theta uniform +-sqrt(6 / (3 + n)), b uniform +-0.01, a learned
    initial state h_0 uniform +-sqrt(3 / n); their reflection is about conj(v)
    (`times_reflection`), kept here. (The draft's text initialises differently: biases 0,
    reflections U[-1, 1], phases U[-pi, pi]; the code is followed.) Differences: their `scale`
    diagonal (a penalised, non-unitary extra) is left out; the stored version of their
    `complex_RNN` (commit 0fbd1f0) has the two FFTs commented out, the paper and
    `complex_RNN_LSTM` have them, and so does this cell.
    """

    def __init__(self, units: int, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.seed = seed
        self.state_size = 2 * units
        self.output_size = 2 * units
        # Pi: fixed, drawn from the trial's seed (the authors draw it with np.random).
        self.permutation = np.random.default_rng([seed, 0x9E]).permutation(units)
        self._w = None

    def build(self, input_shape):
        n, inputs = self.units, input_shape[-1]
        glorot = np.sqrt(6.0 / (inputs + n))  # V_re and V_im are each (inputs, n)
        self.kernel = self.add_weight((inputs, 2 * n), _uniform(glorot), name="kernel")
        self.theta = self.add_weight((3, n), _uniform(np.sqrt(6.0 / (3 + n))), name="theta")
        self.reflection = self.add_weight(
            (2, 2 * n), _uniform(np.sqrt(6.0 / (2 + 2 * n))), name="reflection"
        )
        self.bias = self.add_weight((n,), _uniform(0.01), name="bias")
        # Their learned h_0, uniform +-sqrt(2) sqrt(3 / 2n): a zero state would sit where
        # modReLU's slope is b / eps (up to 1e3) and blow the input gradient up step by step.
        self.initial = self.add_weight((2 * n,), _uniform(np.sqrt(3.0 / n)), name="h0")

    def get_initial_state(self, batch_size=None):
        return [tf.tile(self.initial[None, :], [batch_size, 1])]

    def _times_w(self, z: tf.Tensor) -> tf.Tensor:
        """W z for every row z of a complex (batch, n) tensor, factor by factor."""
        n = self.units
        root = tf.cast(np.sqrt(n), z.dtype)
        phases = tf.exp(tf.complex(tf.zeros_like(self.theta), self.theta))
        z = z * phases[0]
        z = tf.signal.fft(z) / root
        z = _reflect(z, self.reflection[0, :n], self.reflection[0, n:])
        z = tf.gather(z, self.permutation, axis=1)
        z = z * phases[1]
        z = tf.signal.ifft(z) * root
        z = _reflect(z, self.reflection[1, :n], self.reflection[1, n:])
        return z * phases[2]

    def _real_matrix(self) -> tf.Tensor:
        """R (2n, 2n) with [Re h, Im h] @ R = [Re Wh, Im Wh]: rows of W applied to I give
        M = W^T, and a complex row z = a + ib times M = P + iQ is [aP - bQ, aQ + bP]."""
        eye = tf.eye(self.units, dtype=self.theta.dtype)
        m = self._times_w(tf.complex(eye, tf.zeros_like(eye)))
        p, q = tf.math.real(m), tf.math.imag(m)
        return tf.concat([tf.concat([p, q], axis=1), tf.concat([-q, p], axis=1)], axis=0)

    def begin_sequence(self) -> None:
        self._w = self._real_matrix()

    def call(self, inputs, states):
        w = self._w if self._w is not None else self._real_matrix()
        z = tf.matmul(states[0], w) + tf.matmul(inputs, self.kernel)
        h = _modrelu_complex(z, self.bias, self.units)
        return h, [h]

    def variable_groups(self) -> dict[str, list]:
        return {
            "input_kernel": [self.kernel],
            "recurrent_kernel": [self.theta, self.reflection],
            "bias": [self.bias, self.initial],  # h_0: a learned offset, like a bias
        }

    def recurrent_matrix(self) -> np.ndarray:
        """The real (2n, 2n) form of W: its eigenvalues are W's and their conjugates."""
        return self._real_matrix().numpy()


class ExpRNNCell(keras.layers.Layer):
    """The orthogonal RNN of Lezcano-Casado & Martinez-Rubio 2019 ("Cheap orthogonal
    constraints in neural networks"), as their code (Lezcano/expRNN) runs it:

        h_t = modReLU(h_{t-1} W + x_t V, b),   W = expm(A - A^T) with A strictly upper,

    real modReLU(z) = sign(z) relu(|z| + b) (`modrelu` in orthogonal.py). As their code
    (orthogonal.py, initialization.py, 1_copying.py): A from `henaff_init_` (2x2 rotation
    blocks, angles U[-pi, pi], their default) or `cayley_init_`; V He-normal (std sqrt(2 /
    inputs)), no input bias; b uniform +-0.01. Difference: they train A with its own, 10x
    smaller, learning rate (`lr_orth`); here one optimizer trains every variable.
    """

    def __init__(self, units: int, seed: int, init: str = "henaff", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.seed = seed
        self.init = init
        self.state_size = units
        self.output_size = units
        self._w = None

    def build(self, input_shape):
        inputs = input_shape[-1]
        normal = keras.initializers.RandomNormal(stddev=float(np.sqrt(2.0 / inputs)))
        self.kernel = self.add_weight((inputs, self.units), normal, name="kernel")
        self.skew = self.add_weight((self.units, self.units), self._skew_init, name="skew")
        self.bias = self.add_weight((self.units,), _uniform(0.01), name="bias")

    def _skew_init(self, shape, dtype=None):
        """Their `create_diag_`: an angle on every other superdiagonal entry, minus the
        transpose; henaff draws the angles U[-pi, pi], cayley -sqrt((1-cos s)/(1+cos s))
        with s ~ U[0, pi/2]. Drawn from the trial's seed."""
        n, half = shape[0], shape[0] // 2
        rng = np.random.default_rng([self.seed, 0xE4])
        if self.init == "henaff":
            angles = rng.uniform(-np.pi, np.pi, half)
        else:
            s = rng.uniform(0.0, np.pi / 2, half)
            angles = -np.sqrt((1.0 - np.cos(s)) / (1.0 + np.cos(s)))
        upper = np.zeros((n, n))
        upper[np.arange(0, 2 * half, 2), np.arange(1, 2 * half, 2)] = angles
        return keras.ops.convert_to_tensor(upper - upper.T, dtype or "float32")

    def _orthogonal(self) -> tf.Tensor:
        upper = tf.linalg.band_part(self.skew, 0, -1) - tf.linalg.band_part(self.skew, 0, 0)
        return tf.linalg.expm(upper - tf.transpose(upper))

    def begin_sequence(self) -> None:
        self._w = self._orthogonal()

    def call(self, inputs, states):
        w = self._w if self._w is not None else self._orthogonal()
        z = tf.matmul(states[0], w) + tf.matmul(inputs, self.kernel)
        h = tf.sign(z) * tf.nn.relu(tf.abs(z) + self.bias)
        return h, [h]

    def variable_groups(self) -> dict[str, list]:
        return {"input_kernel": [self.kernel], "recurrent_kernel": [self.skew], "bias": [self.bias]}

    def recurrent_matrix(self) -> np.ndarray:
        return self._orthogonal().numpy()


class MaxAbs(keras.constraints.Constraint):
    """Clips every entry into [-bound, bound]: IndRNN's recurrent-weight constraint."""

    def __init__(self, bound: float):
        self.bound = float(bound)

    def __call__(self, w):
        return keras.ops.clip(w, -self.bound, self.bound)

    def get_config(self) -> dict:
        return {"bound": self.bound}


def indrnn_bound(dependency: int, activation: str) -> float:
    """|u|'s bound for a dependency of `dependency` steps, as the authors' adding code
    (Sunnydreamrain/IndRNN_Theano_Lasagne, adding/adding.py, `MAG` = 2): 2^(1/T) for relu,
    so that u^T, a unit's gradient growth over T steps, stays within 2;
    (2 / 0.9^(T/10))^(1/T) for tanh."""
    steps = max(dependency, 1)
    if activation == "tanh":
        return float((2.0 / 0.9 ** (steps / 10.0)) ** (1.0 / steps))
    return float(2.0 ** (1.0 / steps))


class IndRNNCell(keras.layers.Layer):
    """The independently recurrent cell of Li et al. 2018 ("Independently recurrent neural
    network (IndRNN)"): h_t = sigma(W x_t + u * h_{t-1} + b), one recurrent weight per unit.

    As the authors' adding code (adding/adding.py): |u| clipped to `indrnn_bound` (here a
    Keras constraint, applied after every optimizer step; they clip before each step); W
    normal with std 0.001; b = 0; relu u starts U[0, 2^(1/T)] (their first layer's range;
    their second, output layer starts U[2^(-1/T), 2^(1/T)]: gradsweep's one layer is both;
    neither range, nor their two-layer stack, solved recall at gap 5 here: README
    "Remedies"), tanh u starts U[-bound, bound].
    """

    def __init__(self, units: int, dependency: int, activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.bound = indrnn_bound(dependency, activation)
        self.low = 0.0 if activation == "relu" else -self.bound
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        normal = keras.initializers.RandomNormal(stddev=0.001)
        self.kernel = self.add_weight((input_shape[-1], self.units), normal, name="kernel")
        self.recurrent_kernel = self.add_weight(
            (self.units,),
            keras.initializers.RandomUniform(self.low, self.bound),
            constraint=MaxAbs(self.bound),
            name="recurrent_kernel",
        )
        self.bias = self.add_weight((self.units,), "zeros", name="bias")

    def begin_sequence(self) -> None:
        """Nothing to build: u acts element-wise."""

    def call(self, inputs, states):
        z = tf.matmul(inputs, self.kernel) + self.recurrent_kernel * states[0] + self.bias
        h = self.activation(z)
        return h, [h]

    def variable_groups(self) -> dict[str, list]:
        return {
            "input_kernel": [self.kernel],
            "recurrent_kernel": [self.recurrent_kernel],
            "bias": [self.bias],
        }

    def recurrent_matrix(self) -> np.ndarray:
        return np.diag(self.recurrent_kernel.numpy())


def _uniform(bound: float) -> keras.initializers.Initializer:
    return keras.initializers.RandomUniform(-float(bound), float(bound))


def _reflect(z: tf.Tensor, v_re: tf.Tensor, v_im: tf.Tensor) -> tf.Tensor:
    """z - 2 conj(v) (v . z) / |v|^2 for every row z: the authors' `times_reflection`."""
    v = tf.complex(v_re, v_im)
    squared = tf.reduce_sum(v_re**2 + v_im**2)
    norm = tf.complex(squared, tf.zeros_like(squared))  # not tf.cast: its gradient warns
    dot = tf.reduce_sum(z * v, axis=1, keepdims=True)
    return z - 2.0 * dot * tf.math.conj(v)[None, :] / norm


def _modrelu_complex(z: tf.Tensor, bias: tf.Tensor, units: int) -> tf.Tensor:
    """modReLU on [Re z, Im z]: each complex unit scaled by relu(|z| + b) / (|z| + eps)."""
    re, im = z[:, :units], z[:, units:]
    modulus = tf.sqrt(re**2 + im**2 + _MODULUS_FLOOR)
    scale = tf.nn.relu(modulus + bias) / (modulus + MODRELU_EPS)
    return tf.concat([re * scale, im * scale], axis=1)
