import numpy as np
import pytest

from gradsweep import tasks


def test_recall_label_is_the_bit_gap_steps_before_the_end():
    split = tasks.generate("recall", 500, 12, np.random.default_rng(1), gap=4)
    assert split.x.shape == (500, 12, 1) and split.x.dtype == np.float32
    assert split.y.shape == (500, 1) and split.y.dtype == np.float32
    np.testing.assert_array_equal(split.y[:, 0], split.x[:, 12 - 4 - 1, 0])
    # and not the neighbouring positions (each agrees only by chance, about half the time)
    for other in (12 - 4 - 2, 12 - 4):
        assert np.mean(split.y[:, 0] == split.x[:, other, 0]) < 0.7
    assert set(np.unique(split.x)) == {0.0, 1.0}


def test_recall_gap_zero_is_the_last_input():
    split = tasks.generate("recall", 50, 5, np.random.default_rng(0), gap=0)
    np.testing.assert_array_equal(split.y[:, 0], split.x[:, -1, 0])


def test_sum_sign_label_is_the_sign_of_the_sum():
    split = tasks.generate("sum_sign", 400, 30, np.random.default_rng(2), scale=10.0)
    np.testing.assert_array_equal(split.y[:, 0], (split.x.sum(axis=(1, 2)) > 0).astype(np.float32))
    assert 5.0 < split.x.std() < 15.0
    assert 0.35 < split.y.mean() < 0.65


@pytest.mark.parametrize(
    ("task", "seq_len", "gap", "match"),
    [
        ("recall", 10, 10, "gap must be < seq_len"),
        ("recall", 10, 15, "gap must be < seq_len"),
        ("recall", 10, -1, "gap must be >= 0"),
        ("recall", 10, None, "needs a gap"),
        ("sum_sign", 10, 3, "does not apply to sum_sign"),
        ("parity", 10, 3, "unknown"),
        ("copy", 10, 3, "seq_len = gap \\+ 20"),
        ("copy", 20, 0, "gap must be >= 1"),
        ("adding", 1, None, "two markers"),
        ("adding", 10, 3, "does not apply to adding"),
        ("recall", 0, 0, "seq_len must be >= 1"),
    ],
)
def test_bad_parameters_raise(task, seq_len, gap, match):
    with pytest.raises(ValueError, match=match):
        tasks.generate(task, 10, seq_len, np.random.default_rng(0), gap=gap)


def test_size_below_one_raises():
    with pytest.raises(ValueError, match="must be >= 1"):
        tasks.generate("recall", 0, 10, np.random.default_rng(0), gap=2)


def test_splits_are_seeded_and_independent():
    a = tasks.make_splits("recall", 10, (64, 32, 32, 16), seed=3, gap=2)
    b = tasks.make_splits("recall", 10, (64, 32, 32, 16), seed=3, gap=2)
    c = tasks.make_splits("recall", 10, (64, 32, 32, 16), seed=4, gap=2)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert not np.array_equal(a.train.x, c.train.x)
    assert not np.array_equal(a.val.x, a.test.x[:32])
    assert [len(s) for s in (a.train, a.val, a.test, a.probe)] == [64, 32, 32, 16]


def test_adding_targets_are_the_sum_of_the_two_marked_values():
    split = tasks.generate("adding", 500, 30, np.random.default_rng(1))
    values, markers = split.x[..., 0], split.x[..., 1]
    assert split.x.shape == (500, 30, 2) and split.y.shape == (500, 1)
    assert ((values >= 0) & (values < 1)).all()
    assert set(np.unique(markers)) == {0.0, 1.0}
    marked = [np.flatnonzero(row) for row in markers]
    assert all(len(m) == 2 and m[0] < 15 <= m[1] for m in marked)  # one marker per half
    expected = np.array([values[i, m].sum() for i, m in enumerate(marked)], np.float32)
    np.testing.assert_allclose(split.y[:, 0], expected, rtol=1e-6)
    np.testing.assert_array_equal(split.signal, [m[0] for m in marked])  # the first marker


def test_copy_sequences_are_symbols_blanks_delimiter_and_the_symbols_at_the_end():
    gap = 7
    split = tasks.generate("copy", 200, gap + 20, np.random.default_rng(2), gap=gap)
    assert split.x.shape == (200, gap + 20, 10) and split.y.shape == (200, gap + 20)
    assert (split.x.sum(axis=-1) == 1).all()  # one-hot
    ids = split.x.argmax(axis=-1)
    symbols = ids[:, :10]
    assert ((symbols >= 1) & (symbols <= 8)).all()
    assert (ids[:, 10 : 10 + gap - 1] == 0).all()  # T - 1 blanks
    assert (ids[:, 10 + gap - 1] == 9).all()  # the delimiter
    assert (ids[:, 10 + gap :] == 0).all()  # 10 blanks
    np.testing.assert_array_equal(split.y[:, -10:], symbols)
    assert (split.y[:, :-10] == 0).all()
    assert len(np.unique(symbols)) == 8  # every symbol drawn


@pytest.mark.parametrize("task", ["adding", "copy"])
def test_new_tasks_are_seeded(task):
    gap = 3 if task == "copy" else None
    seq_len = 23 if task == "copy" else 12
    a = tasks.make_splits(task, seq_len, (16, 8, 8, 4), seed=5, gap=gap)
    b = tasks.make_splits(task, seq_len, (16, 8, 8, 4), seed=5, gap=gap)
    c = tasks.make_splits(task, seq_len, (16, 8, 8, 4), seed=6, gap=gap)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    np.testing.assert_array_equal(a.train.y, b.train.y)
    assert not np.array_equal(a.train.x, c.train.x)
    assert not np.array_equal(a.train.x[:8], a.val.x)  # each split has its own stream


def test_adding_baseline_is_the_mse_of_always_predicting_one():
    split = tasks.generate("adding", 200_000, 10, np.random.default_rng(3))
    measured = float(np.mean((split.y - 1.0) ** 2))
    baseline = tasks.get("adding").baseline(10, None)
    assert baseline.metric == "loss" and baseline.value == pytest.approx(measured, abs=2e-3)


def test_copy_baseline_is_the_cross_entropy_of_the_memoryless_strategy():
    gap = 12
    split = tasks.generate("copy", 50, gap + 20, np.random.default_rng(4), gap=gap)
    # Certain blanks until the symbols are due, then 1/8 on each symbol: per step, averaged.
    probs = np.zeros((gap + 20, 10))
    probs[:-10, 0] = 1.0
    probs[-10:, 1:9] = 1 / 8
    picked = probs[np.arange(gap + 20), split.y]
    measured = float(np.mean(-np.log(picked)))
    assert tasks.get("copy").baseline(gap + 20, gap).value == pytest.approx(measured)
    assert measured == pytest.approx(10 * np.log(8) / (gap + 20))


def test_the_dependency_axis_is_gap_for_the_tasks_with_a_gap():
    assert {name: tasks.dependency_axis(name) for name in tasks.TASKS} == {
        "recall": "gap",
        "copy": "gap",
        "sum_sign": "seq_len",
        "adding": "seq_len",
    }
    with pytest.raises(ValueError, match="unknown"):
        tasks.dependency_axis("parity")


def test_each_epoch_of_fresh_data_is_its_own_seeded_draw():
    def draw(seed, epoch):
        return tasks.epoch_train_set("adding", 64, 10, seed, epoch)

    assert np.array_equal(draw(3, 2).x, draw(3, 2).x)  # a function of (seed, epoch)
    assert not np.array_equal(draw(3, 1).x, draw(3, 2).x)  # new sequences every epoch
    assert not np.array_equal(draw(3, 1).x, draw(4, 1).x)
    fixed = tasks.make_splits("adding", 10, (64, 64, 64, 64), seed=3)
    for split in (fixed.train, fixed.val, fixed.test, fixed.probe):  # none is reused
        assert not any(np.array_equal(draw(3, e).x, split.x) for e in (1, 2, 3))
