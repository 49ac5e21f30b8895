"""2. gradsweep's training against the notebook's recipe, to 0.99 test accuracy.

The notebook's recipe (reference/notebook.txt): one full-batch Adam step per "epoch" on
1,600 training sequences, then `evaluate` on the training and the test set, every epoch.
Same task (recall, SimpleRNN 64, gap 20, seq_len 60), same data sizes (1,600 train, 400
test), same optimizer and learning rate. gradsweep trains in minibatches of 64 and stops
once validation accuracy reaches 0.99; its test accuracy is measured once, at the end. The
notebook's loop gets up to 5x gradsweep's wall time (at least 60 s) to reach 0.99 on its test
set, the accuracy it reports.
"""

from __future__ import annotations

import time

import keras
import tensorflow as tf

from benchmarks.common import Row
from gradsweep import TrialConfig, run_trial
from gradsweep.models import build_model

CFG = TrialConfig(
    arch="rnn",
    gap=20,
    seq_len=60,
    hidden=64,
    lr=1e-3,
    batch_size=64,
    train_size=1600,
    val_size=400,
    test_size=400,
    max_epochs=60,
)


def notebook_recipe(budget_s: float) -> dict:
    """The notebook's loop, shapes fixed for Keras 3 (labels (n, 1)); stops at 0.99 test acc."""
    from gradsweep import tasks

    data = tasks.make_splits(CFG.task, CFG.seq_len, (1600, 400, 400, 1), CFG.seed, CFG.gap)
    model = build_model(CFG)
    model.compile(
        optimizer=keras.optimizers.Adam(CFG.lr), loss="binary_crossentropy", metrics=["accuracy"]
    )
    x, y = tf.constant(data.train.x), tf.constant(data.train.y)
    start = time.perf_counter()
    epochs, test_acc = 0, 0.0
    while time.perf_counter() - start < budget_s:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        model.evaluate(data.train.x, data.train.y, verbose=0)
        _, test_acc = model.evaluate(data.test.x, data.test.y, verbose=0)
        epochs += 1
        if test_acc >= 0.99:
            break
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "epochs": epochs,
        "samples": epochs * 1600,
        "test_acc": float(test_acc),
        "reached": test_acc >= 0.99,
    }


def against_notebook() -> list[Row]:
    start = time.perf_counter()
    ours = run_trial(CFG)
    ours_s = time.perf_counter() - start
    theirs = notebook_recipe(budget_s=max(60.0, 5 * ours_s))
    note = (
        f"gradsweep: solved={ours.solved}, test acc {ours.test_acc:.3f}, "
        f"{ours.samples_to_solve} samples; notebook: test acc {theirs['test_acc']:.3f} after "
        f"{theirs['epochs']} full-batch steps ({theirs['samples']} samples), "
        f"{'reached' if theirs['reached'] else 'never reached'} 0.99"
    )
    return [
        Row(
            "vs the notebook's loop",
            "recall rnn gap 20: wall time to 0.99",
            theirs["seconds"] / ours_s,
            theirs["seconds"] / ours_s,
            theirs["seconds"] / ours_s,
            "s",
            ours_s,
            theirs["seconds"],
            target="notebook never reaches 0.99 or is far slower",
            note=note + ("" if theirs["reached"] else " (ratio is a lower bound)"),
            extra={"ours": ours.summary(), "notebook": theirs},
        )
    ]
