"""The compiled step and epoch: clipping, per-step norms and their counts, checked here."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gradsweep import TrialConfig, run_trial, tasks
from gradsweep.clipping import Clipping
from gradsweep.config import VARIABLE_GROUPS
from gradsweep.loop import Trainer, apply_update, train_epoch
from gradsweep.models import build_model, objective, variable_groups
from tests.helpers import bce

BETA_2, EPSILON = 0.999, 1e-7  # Keras Adam's defaults


def adam_first_step(weights, grads, lr):
    """Keras's Adam after one step from zero moments, written out in numpy:
    alpha = lr * sqrt(1 - b2) / (1 - b1), m = (1 - b1) g, v = (1 - b2) g^2,
    w -= alpha * m / (sqrt(v) + eps)."""
    scale = np.sqrt(1 - BETA_2)
    return [
        w - lr * scale * g / (scale * np.abs(g) + EPSILON)
        for w, g in zip(weights, grads, strict=True)
    ]


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_one_clipped_step_is_adam_on_gradients_scaled_to_the_clip_norm(tiny):
    # One minibatch per epoch, so one epoch is one step. A tiny clip norm makes the scaled
    # gradients smaller than Adam's epsilon, where Adam's step depends on their scale.
    cfg = TrialConfig(**{**tiny, "train_size": 32, "clip_norm": 1e-6, "lr": 0.01})
    trainer = Trainer(cfg)
    before = trainer.model.get_weights()
    x, y = trainer.training_set(1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(bce(y, trainer.model(x)))
    grads = [g.numpy() for g in tape.gradient(loss, trainer.model.trainable_variables)]
    norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads))
    assert norm > 1e-3  # far above the clip norm: this step is clipped
    scaled = [g * (1e-6 / norm) for g in grads]
    metrics = trainer.run_epoch(1)
    after = trainer.model.get_weights()
    for got, want in zip(after, adam_first_step(before, scaled, 0.01), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-7)
    unclipped = adam_first_step(before, grads, 0.01)
    assert not np.allclose(after[1], unclipped[1], rtol=1e-2)  # and clipping made a difference
    assert metrics.clip_fraction == 1.0
    assert metrics.grad_norm_max == pytest.approx(norm, rel=1e-4)  # measured before clipping


def _weights_and_metrics(result):
    return [{k: v for k, v in vars(e).items() if k != "time_s"} for e in result.epochs]


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_a_clip_norm_never_reached_changes_nothing_and_one_reached_does(tiny):
    free = run_trial(TrialConfig(**tiny))
    assert max(e.grad_norm_max for e in free.epochs) < 1e4
    high = run_trial(TrialConfig(**tiny, clip_norm=1e4))
    assert _weights_and_metrics(high) == _weights_and_metrics(free)
    assert [e.clip_fraction for e in high.epochs] == [0.0, 0.0]
    low = run_trial(TrialConfig(**tiny, clip_norm=0.05))
    assert [e.train_loss for e in low.epochs] != [e.train_loss for e in free.epochs]
    # the first step starts from the same weights: its pre-clip norm is the same in both
    assert low.epochs[0].clip_fraction > 0


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_epoch_counts_exactly_the_steps_whose_norm_exceeded_the_clip_norm():
    cfg = TrialConfig(arch="gru", hidden=6, gap=2, seq_len=6, batch_size=8, train_size=80)
    split = tasks.generate("recall", 80, 6, np.random.default_rng(3), 2)
    x, y = tf.constant(split.x), tf.constant(split.y)
    model = build_model(cfg)
    # The steps' norms, computed here from a tape per minibatch of the same order. The
    # learning rate is so small that the weights, and so the norms, stay where they start.
    norms, groups = [], []
    for lo in range(0, 80, 8):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(bce(y[lo : lo + 8], model(x[lo : lo + 8])))
        grads = tape.gradient(loss, model.trainable_variables)
        squares = dict.fromkeys(VARIABLE_GROUPS, 0.0)
        for name, g in zip(variable_groups(model), grads, strict=True):
            squares[name] += float(np.sum(g.numpy().astype(np.float64) ** 2))
        norms.append(np.sqrt(sum(squares.values())))
        groups.append([np.sqrt(squares[g]) for g in VARIABLE_GROUPS])
    ordered = np.sort(norms)
    widest = int(np.argmax(np.diff(ordered)))
    clip = float((ordered[widest] + ordered[widest + 1]) / 2)  # far from every step's norm
    clipped = int(np.sum(np.array(norms) > clip))
    assert 0 < clipped < 10
    optimizer = tf.keras.optimizers.Adam(learning_rate=1e-9)
    optimizer.build(model.trainable_variables)
    ids = tf.constant([VARIABLE_GROUPS.index(g) for g in variable_groups(model)])
    out = train_epoch(
        model, optimizer, ids, Clipping(clip), 8, x, y, tf.range(80), objective("recall")
    )
    assert int(out.steps) == 10
    assert float(out.clipped) == pytest.approx(clipped, abs=1e-5)  # of 10 steps
    assert float(out.norm) / 10 == pytest.approx(np.mean(norms), rel=1e-4)
    assert float(out.norm_max) == pytest.approx(np.max(norms), rel=1e-4)
    np.testing.assert_allclose(out.group_norms.numpy() / 10, np.mean(groups, axis=0), rtol=1e-4)


def test_sgd_with_momentum_takes_the_steps_written_out_here():
    from gradsweep.loop import make_optimizer, train_step

    cfg = TrialConfig(arch="rnn", hidden=3, gap=1, seq_len=4, optimizer="sgd", lr=0.1, momentum=0.5)
    model = build_model(cfg)
    optimizer = make_optimizer(cfg)
    ids = tf.constant([0] * len(model.trainable_variables))
    split = tasks.generate("recall", 8, 4, np.random.default_rng(0), gap=1)
    x, y = tf.constant(split.x), tf.constant(split.y)
    obj = objective("recall")

    def grads_at(weights):
        model.set_weights(weights)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(obj.loss(y, model(x)))
        return [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]

    w0 = model.get_weights()
    g0 = grads_at(w0)
    w1 = [w - 0.1 * g for w, g in zip(w0, g0, strict=True)]
    g1 = grads_at(w1)
    velocity = [-0.5 * 0.1 * a - 0.1 * b for a, b in zip(g0, g1, strict=True)]
    w2 = [w + v for w, v in zip(w1, velocity, strict=True)]
    model.set_weights(w0)
    for _ in range(2):
        train_step(model, optimizer, ids, Clipping(), x, y, obj)
    for got, want in zip(model.get_weights(), w2, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def _numpy_clip(grads, mode, c):
    """Clipping written out in numpy: the clipped gradients and the step's clip measure."""
    if mode == "global_norm":
        norm = np.sqrt(sum(np.sum(g**2) for g in grads))
        return [g * c / max(norm, c) for g in grads], float(norm > c)
    if mode == "per_variable":
        norms = [np.sqrt(np.sum(g**2)) for g in grads]
        clipped = [g * c / max(n, c) for g, n in zip(grads, norms, strict=True)]
        return clipped, float(max(norms) > c)
    over = sum(np.sum(np.abs(g) > c) for g in grads)
    return [np.clip(g, -c, c) for g in grads], over / sum(g.size for g in grads)


# Gradients the test sets: one variable far above the threshold 1, one below it; entries
# above and below 1 in both; the global norm above 1.
CONTROLLED = [
    np.array([[3.0, -0.5], [0.25, -2.0]]),  # norm 3.65, two entries beyond 1
    np.array([0.6, -0.3, 0.1]),  # norm 0.68, no entry beyond 1
]


@pytest.mark.parametrize("mode", ["global_norm", "per_variable", "value"])
def test_each_clip_mode_clips_as_written_out_in_numpy(mode):
    from gradsweep.clipping import clip_gradients

    grads = [tf.constant(g) for g in CONTROLLED]
    norm = tf.sqrt(tf.add_n([tf.reduce_sum(g**2) for g in grads]))
    got, measure = clip_gradients(grads, Clipping(1.0, mode), norm)
    want, want_measure = _numpy_clip(CONTROLLED, mode, 1.0)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-12)
    assert float(measure) == pytest.approx(want_measure, rel=1e-12)
    assert float(measure) == {"global_norm": 1.0, "per_variable": 1.0, "value": 2 / 7}[mode]
    # the modes differ here: per_variable leaves the small variable alone, global_norm not
    assert np.allclose(got[1].numpy(), CONTROLLED[1]) == (mode != "global_norm")


@pytest.mark.parametrize("mode", ["per_variable", "value"])
def test_a_step_below_every_threshold_is_not_clipped(mode):
    from gradsweep.clipping import clip_gradients

    grads = [tf.constant(CONTROLLED[1])]
    got, measure = clip_gradients(grads, Clipping(1.0, mode), tf.norm(grads[0]))
    np.testing.assert_array_equal(got[0].numpy(), CONTROLLED[1])
    assert float(measure) == 0.0


@pytest.mark.parametrize("mode", ["global_norm", "per_variable", "value"])
def test_a_step_applies_the_gradients_clipped_as_its_mode_says(mode):
    """With SGD at lr 1 a step moves each weight by minus its clipped gradient, so the
    step's clipping is read off the weights; the gradients come from a second tape."""
    from gradsweep.loop import make_optimizer, train_step

    cfg = TrialConfig(arch="rnn", hidden=3, gap=1, seq_len=4, optimizer="sgd", lr=1.0)
    cfg = cfg.model_copy(update={"dtype": "float64"})  # so float rounding stays out of it
    model = build_model(cfg)
    split = tasks.generate("recall", 8, 4, np.random.default_rng(0), gap=1)
    x, y = tf.constant(split.x, tf.float64), tf.constant(split.y, tf.float64)
    obj = objective("recall")
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(obj.loss(y, model(x)))
    grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
    entries = np.abs(np.concatenate([g.ravel() for g in grads]))
    threshold = float(np.median(entries))  # half the entries beyond it
    want, want_measure = _numpy_clip(grads, mode, threshold)
    before = model.get_weights()
    ids = tf.constant([0] * len(grads))
    step = train_step(model, make_optimizer(cfg), ids, Clipping(threshold, mode), x, y, obj)
    for w0, w1, g in zip(before, model.get_weights(), want, strict=True):
        np.testing.assert_allclose(w0 - w1, g, rtol=1e-9, atol=1e-15)
    assert float(step.clipped) == pytest.approx(want_measure, rel=1e-12)
    assert float(step.norm) == pytest.approx(np.sqrt(np.sum(entries**2)), rel=1e-12)  # pre-clip


GROUPS = VARIABLE_GROUPS


def _eager_epoch(cfg, weights, x, y, order):
    """One epoch as a plain eager loop over the same minibatches from the same weights,
    with the epoch's metrics computed here in numpy: train_loss as the mean over every
    sequence of its own loss, whatever the minibatch sizes."""
    from gradsweep.loop import make_optimizer

    model = build_model(cfg)
    model.set_weights(weights)
    optimizer = make_optimizer(cfg)
    obj, names = objective(cfg.task), variable_groups(model)
    losses, scores, norms, groups, measures = [], [], [], [], []
    for lo in range(0, len(order), cfg.batch_size):
        idx = order[lo : lo + cfg.batch_size]
        xb, yb = tf.gather(x, idx), tf.gather(y, idx)
        with tf.GradientTape() as tape:
            pred = model(xb, training=True)
            per_sequence = obj.loss(yb, pred)
            loss = tf.reduce_mean(per_sequence)
        grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
        losses += list(per_sequence.numpy())
        scores += list(obj.score(yb, pred).numpy())
        norms.append(np.sqrt(sum(np.sum(g**2) for g in grads)))
        named = list(zip(grads, names, strict=True))
        groups.append([np.sqrt(sum(np.sum(g**2) for g, n in named if n == k)) for k in GROUPS])
        clipped, measure = _numpy_clip(grads, cfg.clip_mode, cfg.clip_norm)
        measures.append(measure)
        optimizer.apply([tf.constant(g) for g in clipped], model.trainable_variables)
    return {
        "train_loss": np.mean(losses),
        "train_acc": np.mean(scores),
        "grad_norm_mean": np.mean(norms),
        "grad_norm_max": np.max(norms),
        "clip_fraction": np.mean(measures),
        **{f"grad_norm_{k}": v for k, v in zip(GROUPS, np.mean(groups, axis=0), strict=True)},
    }, losses


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_the_epoch_metrics_equal_a_plain_eager_loop_over_the_same_minibatches():
    """train_loss, train_acc, the norms, clip_fraction and the group norms of a compiled
    epoch with a ragged last minibatch (40 = 16 + 16 + 8) against `_eager_epoch`."""
    import copy

    cfg = TrialConfig(
        arch="rnn", hidden=4, gap=2, seq_len=6, batch_size=16, train_size=40, val_size=8,
        test_size=8, lr=0.05, clip_norm=0.01, clip_mode="value", diagnostics=False,
    )  # fmt: skip
    cfg = cfg.model_copy(update={"dtype": "float64"})  # tight tolerances
    trainer = Trainer(cfg)
    weights = trainer.model.get_weights()
    order = copy.deepcopy(trainer.rng).permutation(40)  # the order the epoch will draw
    x, y = trainer.training_set(1)
    metrics = vars(trainer.run_epoch(1))
    want, losses = _eager_epoch(cfg, weights, x, y, order)
    for name, value in want.items():
        assert metrics[name] == pytest.approx(value, rel=1e-9), name
    assert 0 < metrics["clip_fraction"] < 1  # some entries were clipped, not all
    # The mean of the three minibatch means is another number: weighting matters here.
    batch_means = [np.mean(losses[lo : lo + 16]) for lo in (0, 16, 32)]
    assert abs(np.mean(batch_means) - want["train_loss"]) > 1e-6 * want["train_loss"]


def test_fresh_data_trains_each_epoch_on_new_sequences_and_keeps_validation_fixed(tiny):
    fresh = Trainer(TrialConfig(**tiny, fresh_data=True))
    first, second = (fresh.training_set(e)[0].numpy() for e in (1, 2))
    assert first.shape == second.shape == (tiny["train_size"], tiny["seq_len"], 1)
    assert not np.array_equal(first, second)
    again = Trainer(TrialConfig(**tiny, fresh_data=True))  # the same seed draws the same
    assert np.array_equal(again.training_set(2)[0].numpy(), second)
    fixed = Trainer(TrialConfig(**tiny))
    assert np.array_equal(fixed.training_set(1)[0].numpy(), fixed.training_set(2)[0].numpy())
    for name in ("val", "test", "probe"):
        assert np.array_equal(getattr(fresh.data, name).x, getattr(fixed.data, name).x), name


def _val_accuracy_after_each_step(cfg, weights, x, y, order, val):
    """A plain eager loop over the epoch's minibatches; the validation accuracy (numpy)
    after every step."""
    from gradsweep.loop import make_optimizer

    model = build_model(cfg)
    model.set_weights(weights)
    optimizer, obj, accs = make_optimizer(cfg), objective(cfg.task), []
    for lo in range(0, len(order), cfg.batch_size):
        idx = order[lo : lo + cfg.batch_size]
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(obj.loss(tf.gather(y, idx), model(tf.gather(x, idx))))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        accs.append(float(np.mean((model(val.x).numpy() > 0.5) == (val.y > 0.5))))
    return accs


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_the_epoch_stops_at_the_step_whose_validation_check_reaches_the_threshold():
    """Validation checked after every step (eval_every = batch_size; the screen is the whole
    32-sequence validation set): the epoch stops after the first step whose accuracy,
    replayed here step by step, reaches the threshold, and counts the sequences to it."""
    import copy

    base = dict(
        arch="rnn", hidden=4, gap=0, seq_len=3, batch_size=16, train_size=128, val_size=32,
        test_size=8, lr=0.05, eval_every=16, diagnostics=False, dtype="float64",
    )  # fmt: skip
    trainer = Trainer(TrialConfig(**base, solve_threshold=1.0))
    weights, order = trainer.model.get_weights(), copy.deepcopy(trainer.rng).permutation(128)
    x, y = trainer.training_set(1)
    accs = _val_accuracy_after_each_step(trainer.cfg, weights, x, y, order, trainer.data.val)
    # a step, not the last, whose accuracy is above chance and above every earlier one
    k = next(k for k in range(1, len(accs) - 1) if accs[k] > max(0.5, *accs[:k]))
    result = run_trial(TrialConfig(**base, solve_threshold=accs[k], max_epochs=3))
    assert result.solved and len(result.epochs) == 1
    assert result.samples_to_solve == result.epochs[0].samples_seen == (k + 1) * 16 < 128
    assert result.epochs[0].val_acc == accs[k]


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: keras.optimizers.Adam(learning_rate=0.05),
        lambda: keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        lambda: keras.optimizers.RMSprop(learning_rate=0.05, momentum=0.5),
    ],
    ids=["adam", "sgd", "rmsprop"],
)
def test_a_compiled_apply_update_steps_as_keras_eager_apply_does(optimizer):
    """Five steps of `apply_update` inside a tf.function (cross-replica, no all-reduce)
    against the same optimizer's `apply` called eagerly (Keras's own path, all-reduce
    included), from the same start on the same gradients."""
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(3, 2)), rng.normal(size=(2,))]
    grads = [[rng.normal(size=w.shape) for w in start] for _ in range(5)]
    ours = [tf.Variable(w, dtype=tf.float64) for w in start]
    keras_vars = [tf.Variable(w, dtype=tf.float64) for w in start]
    ours_opt, keras_opt = optimizer(), optimizer()
    step = tf.function(lambda g: apply_update(ours_opt, g, ours))
    for g in grads:
        step([tf.constant(a) for a in g])
        keras_opt.apply([tf.constant(a) for a in g], keras_vars)
    for a, b in zip(ours, keras_vars, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    assert not np.allclose(ours[0].numpy(), start[0])  # the steps did move the weights
