"""Timing helpers: paired ratios, reported as median with min and max."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
THREADS = 2  # the machine's cores; TensorFlow's pools are fixed once per process


@dataclass
class Row:
    """One line of the table: a ratio (> 1 means gradsweep is better) and what it rests on."""

    benchmark: str
    case: str
    ratio: float
    ratio_min: float
    ratio_max: float
    unit: str
    ours: float
    baseline: float
    target: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def ratio_stats(ours: list[float], baseline: list[float], higher_is_better: bool):
    """Median ratio and its range over the paired runs (pairs in the order they ran)."""
    pairs = [(o / b if higher_is_better else b / o) for o, b in zip(ours, baseline, strict=True)]
    return statistics.median(pairs), min(pairs), max(pairs)


def median(values: list[float]) -> float:
    return statistics.median(values)


class Poller:
    """Calls `sample()` every `interval` seconds on a thread while in a `with` block
    (the peak memory and GPU process samplers of the benchmarks)."""

    interval = 0.2

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
