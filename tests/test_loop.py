"""The compiled step and epoch: clipping, per-step norms and their counts, checked here."""

import numpy as np
import pytest
import tensorflow as tf

from gradsweep import TrialConfig, run_trial, tasks
from gradsweep.config import VARIABLE_GROUPS
from gradsweep.loop import Trainer, train_epoch
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


def test_one_clipped_step_is_adam_on_gradients_scaled_to_the_clip_norm(tiny):
    # One minibatch per epoch, so one epoch is one step. A tiny clip norm makes the scaled
    # gradients smaller than Adam's epsilon, where Adam's step depends on their scale.
    cfg = TrialConfig(**{**tiny, "train_size": 32, "clip_norm": 1e-6, "lr": 0.01})
    trainer = Trainer(cfg)
    before = trainer.model.get_weights()
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(bce(trainer.train_y, trainer.model(trainer.train_x)))
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
    out = train_epoch(model, optimizer, ids, clip, 8, x, y, tf.range(80), objective("recall"))
    assert float(out["clip_fraction"]) * 10 == pytest.approx(clipped, abs=1e-5)  # of 10 steps
    assert float(out["grad_norm_mean"]) == pytest.approx(np.mean(norms), rel=1e-4)
    assert float(out["grad_norm_max"]) == pytest.approx(np.max(norms), rel=1e-4)
    np.testing.assert_allclose(out["group_norms"].numpy(), np.mean(groups, axis=0), rtol=1e-4)


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
        train_step(model, optimizer, ids, None, x, y, obj)
    for got, want in zip(model.get_weights(), w2, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
