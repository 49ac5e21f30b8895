"""The compiled training loop behind `run_trial`: data, model, optimizer and measurements.

A whole epoch runs as one `tf.function` (a graph loop over minibatches), so Python is entered
once per epoch rather than once per step; per-step gradient norms are accumulated in the graph.
Typed records carry the measurements: `StepMeasures` (one step), `EpochSums` (the compiled
epoch's sums, divided into `records.EpochMetrics` by `Trainer.run_epoch`) and
`ProbeMeasures` (the fixed probe batch). Everything runs in the trial's `dtype`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, fields, replace
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from gradsweep import diagnostics, tasks
from gradsweep.clipping import Clipping, clip_gradients
from gradsweep.config import VARIABLE_GROUPS, TrialConfig, check_interval
from gradsweep.models import (
    Objective,
    build_model,
    objective,
    recurrent_matrix,
    variable_groups,
)
from gradsweep.records import EpochMetrics, TrialState

EVAL_CHUNK = 4096  # sequences per evaluation call; bounds memory for large sets
# Validation sequences screened at each check inside an epoch: at the default seven checks
# an epoch, seven forward passes over 32 sequences against an epoch's forward and backward
# passes, 2-4% of it (`make bench` measures it). Fewer would hardly save: a small RNN's
# forward pass costs its steps' overhead, whatever the batch.
SCREEN_SIZE = 32


def _in_dtype(split: tasks.Split, dtype: str) -> tasks.Split:
    """`split` with its inputs, and its labels when they are numbers rather than class
    ids, in `dtype`."""
    y = split.y.astype(dtype) if np.issubdtype(split.y.dtype, np.floating) else split.y
    return replace(split, x=split.x.astype(dtype), y=y)


class StepMeasures(NamedTuple):
    """What one optimizer step measured: scalars in the trial's dtype unless said; norms
    are taken before clipping."""

    loss: tf.Tensor  # mean loss over the minibatch
    correct: tf.Tensor  # the minibatch's summed score (correct sequences, or shares of them)
    norm: tf.Tensor  # global gradient norm
    group_norms: tf.Tensor  # (len(VARIABLE_GROUPS),): one norm per group
    clipped: tf.Tensor  # this step's `clip_gradients` measure (0 when clipping is off)


class EpochSums(NamedTuple):
    """What the compiled epoch accumulated over its steps, as sums (scalars in the trial's
    dtype unless said); `Trainer.run_epoch` divides them into the epoch's metrics."""

    sequences: tf.Tensor  # int32: sequences trained on (the length of `order`)
    steps: tf.Tensor  # int32: optimizer steps (the last minibatch may be smaller)
    loss: tf.Tensor  # sum over sequences of each one's loss (step mean x batch size)
    correct: tf.Tensor  # sum of the steps' summed scores
    norm: tf.Tensor  # sum over steps of the global pre-clip norm
    norm_max: tf.Tensor  # the largest step norm; NaN once any step's norm was NaN
    clipped: tf.Tensor  # sum over steps of the clip measure
    group_norms: tf.Tensor  # (len(VARIABLE_GROUPS),): sum over steps of each group's norm


class SolveCheck(NamedTuple):
    """Validation inside an epoch: the screen (the first `SCREEN_SIZE` validation
    sequences) and the whole validation set, inputs and labels as `train_step` takes
    them, and the score that counts as solved."""

    threshold: float
    screen_x: tf.Tensor
    screen_y: tf.Tensor
    x: tf.Tensor
    y: tf.Tensor


def solves(model: keras.Model, objective: Objective, check: SolveCheck) -> tf.Tensor:
    """True (a bool tensor) when validation accuracy reaches `check.threshold`: screened on
    the subset, confirmed on the whole set. Compares summed scores with threshold x count,
    as `Trainer.run_epoch`'s validation accuracy (a sum over a count) does."""

    def reaches(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        total = tf.reduce_sum(objective.score(y, model(x, training=False)))
        return total >= check.threshold * tf.cast(tf.shape(y)[0], total.dtype)

    return tf.cond(
        reaches(check.screen_x, check.screen_y),
        lambda: reaches(check.x, check.y),
        lambda: tf.constant(False),
    )


def apply_update(
    optimizer: keras.optimizers.Optimizer, grads: list[tf.Tensor], variables: list
) -> None:
    """`optimizer.apply(grads, variables)` in cross-replica context, so a traced step leaves
    nothing behind in the process.

    Why: from a replica context (the default in a `tf.function`) Keras's TensorFlow optimizer
    sums the gradients over replicas with `ReplicaContext.all_reduce`, a `tf.custom_gradient`;
    in graph mode that registers a gradient function in TensorFlow's process-wide registry
    (`CustomGradient-<n>`, never removed) whose closure holds the step's tensors, so each trace
    kept its FuncGraphs alive (about 7 MiB a trial in a reused worker). Inside `merge_call`
    Keras skips the all-reduce, an identity for the default strategy's one replica: the
    numbers are bit-identical. Under a multi-replica strategy it would drop the sum; gradsweep
    runs none."""
    tf.distribute.get_replica_context().merge_call(lambda _: optimizer.apply(grads, variables))


def train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    group_ids: tf.Tensor,
    clipping: Clipping,
    x: tf.Tensor,
    y: tf.Tensor,
    objective: Objective,
) -> StepMeasures:
    """One optimizer step on a minibatch: `x` `(batch, seq_len, channels)` and `y` `(batch, 1)`
    (or `(batch, seq_len)` int32 class ids) as `tasks.Split` holds them, in the trial's dtype;
    `group_ids` `(len(model.trainable_variables),)` int32, each variable's VARIABLE_GROUPS
    index."""
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        pred = model(x, training=True)
        loss = tf.reduce_mean(objective.loss(y, pred))
    grads = tape.gradient(loss, variables)
    norm, group_norms = diagnostics.gradient_norms(grads, group_ids)
    grads, clipped = clip_gradients(grads, clipping, norm)
    apply_update(optimizer, grads, variables)
    correct = tf.reduce_sum(objective.score(y, pred))
    return StepMeasures(loss, correct, norm, group_norms, clipped)


def train_epoch(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    group_ids: tf.Tensor,
    clipping: Clipping,
    batch_size: int,
    x: tf.Tensor,
    y: tf.Tensor,
    order: tf.Tensor,
    objective: Objective,
    check: SolveCheck | None = None,
    check_every: int = 0,
) -> EpochSums:
    """One pass over `x` in minibatches of `batch_size` taken in `order` (`(n,)` int32
    indices into `x`; the last minibatch holds the rest); `x`, `y` and `group_ids` as
    `train_step` takes them. With a `check`, validation is checked (`solves`) after every
    `check_every` steps but the last, and the pass stops after the check that solves.
    Returns the sums of the step measures over the steps run.

    The checks run between stretches of steps inside the same compiled function, so a
    checked epoch is one call, and each stretch is the unchecked epoch's loop; the only cost
    of a check that does not pass is its screen's forward pass."""
    n = tf.shape(order)[0]
    steps = (n + batch_size - 1) // batch_size
    stretch = check_every if check is not None else steps
    zero = tf.zeros([], x.dtype)
    loss_sum, correct, norm_sum, norm_max, clipped = zero, zero, zero, zero, zero
    group_sum = tf.zeros([len(VARIABLE_GROUPS)], x.dtype)
    sequences, steps_run = tf.constant(0), tf.constant(0)
    for start in tf.range(0, steps, stretch):
        end = tf.minimum(start + stretch, steps)
        for i in tf.range(start, end):
            idx = order[i * batch_size : tf.minimum((i + 1) * batch_size, n)]
            xb, yb = tf.gather(x, idx), tf.gather(y, idx)
            step = train_step(model, optimizer, group_ids, clipping, xb, yb, objective)
            batch = tf.shape(idx)[0]
            sequences += batch
            loss_sum += step.loss * tf.cast(batch, x.dtype)
            correct += step.correct
            norm_sum += step.norm
            # NaN-propagating max: a non-finite step must not hide behind an earlier one.
            norm_max = tf.where(
                tf.math.is_finite(step.norm), tf.maximum(norm_max, step.norm), step.norm
            )
            clipped += step.clipped
            group_sum += step.group_norms
        steps_run = end
        # AutoGraph evaluates `and` lazily: the screen runs only where a check is due.
        if check is not None and end < steps and solves(model, objective, check):
            break
    return EpochSums(
        sequences, steps_run, loss_sum, correct, norm_sum, norm_max, clipped, group_sum
    )


class ProbeMeasures(NamedTuple):
    """What the fixed probe batch measured (`Trainer.probe`)."""

    grad_profile: list[float]  # mean |dL/dx_t| over the probe batch, t = 0 .. seq_len - 1
    signal_grad_ratio: float  # at the signal over at the last input
    spectral_radius: float  # of the recurrent matrix (`models.recurrent_matrix`)


def evaluate(
    model: keras.Model, x: tf.Tensor, y: tf.Tensor, objective: Objective
) -> tuple[tf.Tensor, tf.Tensor]:
    """Summed loss and summed score over a batch of sequences."""
    pred = model(x, training=False)
    return tf.reduce_sum(objective.loss(y, pred)), tf.reduce_sum(objective.score(y, pred))


def make_optimizer(cfg: TrialConfig) -> keras.optimizers.Optimizer:
    """Adam, SGD or RMSprop at `cfg.lr` (with `cfg.momentum` for the latter two)."""
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=cfg.lr, momentum=cfg.momentum)
    return keras.optimizers.Adam(learning_rate=cfg.lr)


class Trainer:
    """Data, model, optimizer and compiled functions of one trial."""

    def __init__(self, cfg: TrialConfig):
        self.cfg = cfg
        sizes = (cfg.train_size, cfg.val_size, cfg.test_size, cfg.probe_size)
        splits = tasks.make_splits(cfg.task, cfg.seq_len, sizes, cfg.seed, cfg.gap, cfg.scale)
        # The data in the trial's dtype (drawn as float32, so float64 sees the same values).
        self.data = tasks.Splits(
            *(_in_dtype(getattr(splits, f.name), cfg.dtype) for f in fields(tasks.Splits))
        )
        self.model = build_model(cfg)
        self.task = tasks.get(cfg.task)
        self.objective = objective(cfg.task)
        self.optimizer = make_optimizer(cfg)
        self.optimizer.build(self.model.trainable_variables)
        # Shuffling has its own stream, so its state can be saved and restored exactly.
        self.rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5EED]))
        if not cfg.fresh_data:  # else each epoch draws its own (`training_set`)
            self._train = (tf.constant(self.data.train.x), tf.constant(self.data.train.y))
        group_ids = tf.constant(
            [VARIABLE_GROUPS.index(g) for g in variable_groups(self.model)], tf.int32
        )
        clipping, obj = Clipping(cfg.clip_norm, cfg.clip_mode), self.objective

        check, every = self._check(), self.stretch // cfg.batch_size

        def epoch_fn(x: tf.Tensor, y: tf.Tensor, order: tf.Tensor) -> EpochSums:
            return train_epoch(
                self.model, self.optimizer, group_ids, clipping, cfg.batch_size, x, y, order,
                obj, check, every,
            )  # fmt: skip

        self._epoch = tf.function(epoch_fn)
        self._evaluate = tf.function(
            lambda x, y: evaluate(self.model, x, y, obj), reduce_retracing=True
        )
        self._gradients = tf.function(
            lambda x, y: diagnostics.input_gradients(self.model, x, y, obj.loss)
        )

    @property
    def stretch(self) -> int:
        """Training sequences between validation checks (`config.check_interval`)."""
        cfg = self.cfg
        return check_interval(cfg.eval_every, cfg.batch_size, cfg.train_size)

    def _check(self) -> SolveCheck | None:
        """The validation check inside the epoch; None when the epoch's end comes first."""
        if self.stretch >= self.cfg.train_size:
            return None
        val = self.data.val
        screen_x, screen_y = (tf.constant(a[:SCREEN_SIZE]) for a in (val.x, val.y))
        x, y = tf.constant(val.x), tf.constant(val.y)
        return SolveCheck(self.cfg.solve_threshold, screen_x, screen_y, x, y)

    def train(self, x: tf.Tensor, y: tf.Tensor, order: np.ndarray) -> EpochSums:
        """Train on `x[order]` in minibatches, checking validation after every `stretch`
        sequences (not after the last, which the epoch's own validation follows); stops
        after the check that reaches the threshold. The sums of the steps run."""
        return self._epoch(x, y, tf.constant(order, tf.int32))

    def training_set(self, epoch: int) -> tuple[tf.Tensor, tf.Tensor]:
        """The inputs and labels epoch `epoch` (from 1) trains on: the fixed training set, or
        with `fresh_data` the epoch's own draw (a function of the seed and the epoch alone,
        so a resumed trial draws what an uninterrupted one would)."""
        if not self.cfg.fresh_data:
            return self._train
        cfg = self.cfg
        split = tasks.epoch_train_set(
            cfg.task, cfg.train_size, cfg.seq_len, cfg.seed, epoch, cfg.gap, cfg.scale
        )
        split = _in_dtype(split, cfg.dtype)
        return tf.constant(split.x), tf.constant(split.y)

    def run_epoch(self, epoch: int) -> EpochMetrics:
        """Train one epoch, evaluate on validation data and measure the gradients."""
        start = time.perf_counter()
        x, y = self.training_set(epoch)
        sums = self.train(x, y, self.rng.permutation(self.cfg.train_size))
        val_loss, val_acc = self._evaluate_split(self.data.val)
        probe = self.probe() if self.cfg.diagnostics else None
        n, steps = float(sums.sequences), float(sums.steps)
        groups = sums.group_norms.numpy() / steps
        return EpochMetrics(
            epoch=epoch,
            samples_seen=(epoch - 1) * self.cfg.train_size + int(sums.sequences),
            train_loss=float(sums.loss) / n,
            train_acc=float(sums.correct) / n,
            val_loss=val_loss,
            val_acc=val_acc,
            grad_norm_mean=float(sums.norm) / steps,
            grad_norm_max=float(sums.norm_max),
            **{f"grad_norm_{g}": float(v) for g, v in zip(VARIABLE_GROUPS, groups, strict=True)},
            clip_fraction=float(sums.clipped) / steps,
            signal_grad_ratio=probe.signal_grad_ratio if probe else None,
            spectral_radius=probe.spectral_radius if probe else None,
            grad_profile=probe.grad_profile if probe else None,
            time_s=time.perf_counter() - start,
            val_mse=val_loss if self.task.output == "regression" else None,
        )

    def probe(self) -> ProbeMeasures:
        """Gradient through time and spectral radius, on the fixed probe batch."""
        probe = self.data.probe
        gradients = self._gradients(tf.constant(probe.x), tf.constant(probe.y))
        gradients = gradients.numpy().astype(np.float64)
        profile = gradients.mean(axis=0)
        if self.task.fixed_signal:
            ratio = diagnostics.signal_grad_ratio(profile, self.cfg.signal_position)
        else:  # each sequence at its own signal (the adding problem's first marker)
            ratio = diagnostics.signal_grad_ratio_per_sequence(gradients, probe.signal)
        kernel = recurrent_matrix(self.model)
        return ProbeMeasures(profile.tolist(), ratio, diagnostics.spectral_radius(kernel))

    def _evaluate_split(self, split: tasks.Split) -> tuple[float, float]:
        loss, correct = 0.0, 0.0
        for lo in range(0, len(split), EVAL_CHUNK):
            chunk_loss, chunk_correct = self._evaluate(
                tf.constant(split.x[lo : lo + EVAL_CHUNK]),
                tf.constant(split.y[lo : lo + EVAL_CHUNK]),
            )
            loss += float(chunk_loss)
            correct += float(chunk_correct)
        return loss / len(split), correct / len(split)

    def evaluate_test(self) -> tuple[float, float]:
        """Loss and accuracy on the untouched test set."""
        return self._evaluate_split(self.data.test)

    def weights_finite(self) -> bool:
        """True when no weight is NaN or infinite."""
        return all(np.all(np.isfinite(w)) for w in self.model.get_weights())

    def state(self, history: list[EpochMetrics], init: dict) -> TrialState:
        """A snapshot from which `restore` continues exactly."""
        return TrialState(
            epoch=len(history),
            weights=self.model.get_weights(),
            optimizer=[v.numpy() for v in self.optimizer.variables],
            rng=self.rng.bit_generator.state,
            history=[asdict(e) for e in history],
            init=init,
        )

    def restore(self, state: TrialState) -> None:
        """Load weights, optimizer state and shuffling RNG from a snapshot."""
        self.model.set_weights(state.weights)
        if len(state.optimizer) != len(self.optimizer.variables):
            raise ValueError("saved optimizer state does not match this model")
        for var, value in zip(self.optimizer.variables, state.optimizer, strict=True):
            var.assign(value)
        self.rng.bit_generator.state = state.rng
