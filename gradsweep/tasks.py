"""The tasks, one class each: what is well posed, the data, the output and score, the signal.

- `recall`: a binary sequence; the label is the bit `gap` steps before the last input, at
  index `seq_len - gap - 1` (the notebook's long-dependency task).
- `sum_sign`: inputs drawn from N(0, scale^2); the label is whether their sum is positive
  (the notebook's "exploding gradient task", named for what it is).
- `adding`: the adding problem of Hochreiter & Schmidhuber 1997 (Experiment 4) in the
  layout of Arjovsky, Shah & Bengio 2016 (Section 4.2; their code draws one marker in each
  half), as reimplementations of Le, Jaitly & Hinton 2015 use it: two channels per step, a
  value in U[0, 1] and a marker that is 1 at two positions, one in each half of the
  sequence (H&S put both in the first half, values in [-1, 1]); the target is the sum of
  the two marked values; squared error. A sequence
  counts as correct when its absolute error is below 0.08: H&S's criterion (0.04 on the
  target 0.5 + (X1 + X2) / 4 with X in [-1, 1]) is stated on half this sum.
- `copy`: the copying-memory task of Arjovsky, Shah & Bengio 2016 (arXiv 1511.06464,
  Section 4.1): 10 symbols drawn from 8, then `gap` - 1 blanks, a delimiter and 10 blanks;
  the output is blank everywhere except the last 10 steps, which must repeat the symbols.
  `seq_len` is gap + 20. Scored on the 10 recalled symbols.

Each task is generated vectorised from its own numpy Generator, so a seed fixes the data.
This module imports nothing from TensorFlow; the TensorFlow side of each output kind (its
head, loss and score) is in `models.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

Output = Literal["binary", "regression", "sequence"]


@dataclass(frozen=True)
class Split:
    """Inputs `(n, seq_len, channels)` float32; labels `(n, 1)` float32 for one answer per
    sequence, `(n, seq_len)` int32 class ids for an answer per step; `signal`, `(n,)`, the
    position of each sequence's signal input (the one the answer depends on from furthest)."""

    x: np.ndarray
    y: np.ndarray
    signal: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Splits:
    """Independently drawn train, validation, test and gradient-probe sets."""

    train: Split
    val: Split
    test: Split
    probe: Split


@dataclass(frozen=True)
class Baseline:
    """What a model that learned nothing scores: `value` of `metric`, and how it is got."""

    metric: Literal["loss", "acc"]
    value: float
    what: str


class Task:
    """One task's definition. Subclasses set the class attributes and the three methods."""

    name: ClassVar[str]
    channels: ClassVar[int] = 1  # input features per step
    output: ClassVar[Output] = "binary"
    classes: ClassVar[int] = 1  # output units (per step for "sequence")
    uses_gap: ClassVar[bool] = False  # the dependency axis is gap (else seq_len)
    # True when every sequence has its signal at the same position: the signal-gradient
    # ratio is then taken on the mean profile; else per sequence, then averaged.
    fixed_signal: ClassVar[bool] = True
    tolerance: ClassVar[float | None] = None  # regression: |error| below it is correct
    scored_steps: ClassVar[int | None] = None  # sequence: the last steps that are scored
    # TrialConfig defaults this task overrides when a config leaves them out: the budget
    # and sizes with which `gradsweep train --task NAME` solves an easy case here.
    defaults: ClassVar[dict[str, object]] = {}

    @property
    def dependency_axis(self) -> str:
        """The config field whose larger values make a longer dependency: `gap` or `seq_len`."""
        return "gap" if self.uses_gap else "seq_len"

    def check(self, seq_len: int, gap: int | None) -> None:
        """Raise ValueError unless (seq_len, gap) is a well-posed instance."""
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        if self.uses_gap:
            if gap is None:
                raise ValueError(f"{self.name} needs a gap")
            if gap < 0:
                raise ValueError(f"gap must be >= 0, got {gap}")
        elif gap is not None:
            raise ValueError(f"gap does not apply to {self.name}; leave it out (null)")

    def default_seq_len(self, gap: int | None) -> int | None:
        """seq_len when a config leaves it out, if the task derives it; else None."""
        return None

    def generate(self, n: int, seq_len: int, rng: np.random.Generator, gap, scale) -> Split:
        raise NotImplementedError

    def baseline(self, seq_len: int, gap: int | None) -> Baseline:
        raise NotImplementedError


class Recall(Task):
    name = "recall"
    uses_gap = True

    def check(self, seq_len, gap):
        super().check(seq_len, gap)
        if gap >= seq_len:  # the notebook silently labelled every sequence 0 here
            raise ValueError(f"gap must be < seq_len ({seq_len}), got {gap}")

    def generate(self, n, seq_len, rng, gap, scale):
        x = rng.integers(0, 2, size=(n, seq_len, 1)).astype(np.float32)
        position = signal_position(seq_len, gap)
        return Split(x, x[:, position, :].copy(), np.full(n, position))

    def baseline(self, seq_len, gap):
        return Baseline("acc", 0.5, "chance")


class SumSign(Task):
    name = "sum_sign"

    def generate(self, n, seq_len, rng, gap, scale):
        x = (rng.standard_normal((n, seq_len, 1)) * scale).astype(np.float32)
        y = (x.sum(axis=1) > 0).astype(np.float32)
        return Split(x, y, np.zeros(n, dtype=np.int64))

    def baseline(self, seq_len, gap):
        return Baseline("acc", 0.5, "chance")


class Adding(Task):
    name = "adding"
    channels = 2
    output = "regression"
    fixed_signal = False
    tolerance = 0.08
    # LSTM 32, Adam 1e-3, seq_len 20: solved at epoch 56 (seed 0, measured here).
    defaults: ClassVar[dict[str, object]] = {"max_epochs": 100}

    def check(self, seq_len, gap):
        super().check(seq_len, gap)
        if seq_len < 2:
            raise ValueError(f"seq_len must be >= 2 for adding (two markers), got {seq_len}")

    def generate(self, n, seq_len, rng, gap, scale):
        values = rng.uniform(0.0, 1.0, size=(n, seq_len)).astype(np.float32)
        half = seq_len // 2
        first = rng.integers(0, half, size=n)
        second = rng.integers(half, seq_len, size=n)
        markers = np.zeros((n, seq_len), dtype=np.float32)
        rows = np.arange(n)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        y = (values[rows, first] + values[rows, second])[:, None]
        return Split(np.stack([values, markers], axis=-1), y.astype(np.float32), first)

    def baseline(self, seq_len, gap):
        # Predicting 1 (the mean sum) leaves the sum's variance, 2 * 1/12; Arjovsky et al.
        # 2016 (Section 4.2) quote 0.167.
        return Baseline("loss", 1 / 6, "always predicting 1")


COPY_SYMBOLS = 10  # symbols to copy (Arjovsky et al. 2016, Section 4.1)
COPY_ALPHABET = 8  # drawn from a_1..a_8; a_0 is the blank, a_9 the delimiter
BLANK, DELIMITER = 0, COPY_ALPHABET + 1


class Copy(Task):
    name = "copy"
    channels = COPY_ALPHABET + 2  # one-hot: blank, 8 symbols, delimiter
    output = "sequence"
    classes = COPY_ALPHABET + 2
    uses_gap = True
    scored_steps = COPY_SYMBOLS
    # Measured here on gap 5 (seed 0): LSTM 32 plateaus at 0.92 of symbols (300 epochs,
    # Adam 1e-2), LSTM 64 at 0.95; LSTM 128 with Adam 5e-3 solves at epoch 132 (81 s).
    defaults: ClassVar[dict[str, object]] = {"hidden": 128, "lr": 5e-3, "max_epochs": 200}

    def check(self, seq_len, gap):
        super().check(seq_len, gap)
        if gap < 1:
            raise ValueError(f"gap must be >= 1 for copy, got {gap}")
        if seq_len != gap + 2 * COPY_SYMBOLS:
            raise ValueError(
                f"copy has seq_len = gap + {2 * COPY_SYMBOLS} = {gap + 2 * COPY_SYMBOLS}, "
                f"not {seq_len}; leave seq_len out"
            )

    def default_seq_len(self, gap):
        return None if gap is None else gap + 2 * COPY_SYMBOLS

    def generate(self, n, seq_len, rng, gap, scale):
        symbols = rng.integers(1, COPY_ALPHABET + 1, size=(n, COPY_SYMBOLS))
        ids = np.full((n, seq_len), BLANK, dtype=np.int32)
        ids[:, :COPY_SYMBOLS] = symbols
        ids[:, gap + COPY_SYMBOLS - 1] = DELIMITER
        y = np.full((n, seq_len), BLANK, dtype=np.int32)
        y[:, -COPY_SYMBOLS:] = symbols
        x = np.eye(self.channels, dtype=np.float32)[ids]
        return Split(x, y, np.zeros(n, dtype=np.int64))

    def baseline(self, seq_len, gap):
        # Blanks until the delimiter, then a uniform guess over the 8 symbols (Section 4.1).
        return Baseline(
            "loss", COPY_SYMBOLS * math.log(COPY_ALPHABET) / seq_len, "memoryless strategy"
        )


TASK_DEFS: dict[str, Task] = {t.name: t for t in (Recall(), SumSign(), Adding(), Copy())}
TASKS = tuple(TASK_DEFS)


def get(task: str) -> Task:
    """The definition of `task`, or ValueError naming the allowed ones."""
    try:
        return TASK_DEFS[task]
    except KeyError:
        raise ValueError(f"task {task!r} is unknown; allowed: {', '.join(TASKS)}") from None


def dependency_axis(task: str) -> str:
    """`task`'s dependency axis (`gap` for recall and copy, `seq_len` for sum_sign and
    adding); ValueError for an unknown task."""
    return get(task).dependency_axis


def signal_position(seq_len: int, gap: int) -> int:
    """Index of the input the `recall` label copies."""
    return seq_len - gap - 1


def check_task(task: str, seq_len: int, gap: int | None) -> None:
    """Raise ValueError unless (task, seq_len, gap) describes a well-posed problem."""
    get(task).check(seq_len, gap)


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
    return get(task).generate(n, seq_len, rng, gap, scale)


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


def epoch_train_set(
    task: str,
    n: int,
    seq_len: int,
    seed: int,
    epoch: int,
    gap: int | None = None,
    scale: float = 10.0,
) -> Split:
    """The `n` training sequences of epoch `epoch` (from 1) when every epoch draws new ones
    (`fresh_data`): each epoch from its own child of a fifth stream of `make_splits`' seed
    sequence, so it is a function of (seed, epoch) alone and independent of the validation,
    test and probe sets."""
    stream = np.random.SeedSequence([seed, 0x6A7D], spawn_key=(4, epoch))
    return generate(task, n, seq_len, np.random.default_rng(stream), gap, scale)
