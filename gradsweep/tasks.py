"""The two toy tasks, generated vectorised and seeded.

`recall`: a binary sequence; the label is the bit `gap` steps before the last input, at index
`seq_len - gap - 1` (the notebook's long-dependency task). `sum_sign`: inputs drawn from
N(0, scale^2); the label is whether their sum is positive (the notebook's "exploding gradient
task", named for what it is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TASKS = ("recall", "sum_sign")


@dataclass(frozen=True)
class Split:
    """Inputs `(n, seq_len, 1)` float32 and labels `(n, 1)` float32."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Splits:
    """Independently drawn train, validation, test and gradient-probe sets."""

    train: Split
    val: Split
    test: Split
    probe: Split


def signal_position(seq_len: int, gap: int) -> int:
    """Index of the input the `recall` label copies."""
    return seq_len - gap - 1


def check_task(task: str, seq_len: int, gap: int | None) -> None:
    """Raise ValueError unless (task, seq_len, gap) describes a well-posed problem."""
    if task not in TASKS:
        raise ValueError(f"task {task!r} is unknown; allowed: {', '.join(TASKS)}")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if task == "sum_sign":
        if gap is not None:
            raise ValueError("gap applies to recall only; leave it out (null) for sum_sign")
        return
    if gap is None:
        raise ValueError("recall needs a gap")
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    if gap >= seq_len:
        # The notebook silently labelled every sequence 0 here.
        raise ValueError(f"gap must be < seq_len ({seq_len}), got {gap}")


def generate(
    task: str,
    n: int,
    seq_len: int,
    rng: np.random.Generator,
    gap: int | None = None,
    scale: float = 10.0,
) -> Split:
    """Draw `n` labelled sequences of one task."""
    check_task(task, seq_len, gap)
    if n < 1:
        raise ValueError(f"the number of sequences must be >= 1, got {n}")
    if task == "recall":
        x = rng.integers(0, 2, size=(n, seq_len, 1)).astype(np.float32)
        y = x[:, signal_position(seq_len, gap), :].copy()
    else:
        x = (rng.standard_normal((n, seq_len, 1)) * scale).astype(np.float32)
        y = (x.sum(axis=1) > 0).astype(np.float32)
    return Split(x, y)


def make_splits(
    task: str,
    seq_len: int,
    sizes: tuple[int, int, int, int],
    seed: int,
    gap: int | None = None,
    scale: float = 10.0,
) -> Splits:
    """Train, validation, test and probe sets, each from its own child of one seed."""
    streams = np.random.SeedSequence([seed, 0x6A7D]).spawn(4)
    train, val, test, probe = (
        generate(task, n, seq_len, np.random.default_rng(s), gap, scale)
        for n, s in zip(sizes, streams, strict=True)
    )
    return Splits(train, val, test, probe)
