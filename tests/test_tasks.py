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
