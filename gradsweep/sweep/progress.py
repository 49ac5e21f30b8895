"""Progress of a running sweep: a Tune callback that hands out `SweepProgress` snapshots."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ray import tune


@dataclass
class SweepProgress:
    """Counts by state and the best validation accuracy so far."""

    total: int
    done: int = 0
    running: int = 0
    failed: int = 0
    best_val_acc: float | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def pending(self) -> int:
        return max(0, self.total - self.done - self.running - self.failed)


class ProgressCallback(tune.Callback):
    """Tune callback: progress snapshots to `on_progress`. With `at_most` (a frontier
    search's count of the trials it can still come to), the total shrinks as the walk
    decides, so points it will skip never show as pending. `done_before`: trials that
    finished in an earlier run, by the records' status (`tune_state.trial_status`), the
    count `resume` prints; they are not part of this run."""

    def __init__(
        self,
        total: int,
        on_progress: Callable[[SweepProgress], None] | None,
        at_most: Callable[[], int] | None = None,
        done_before: int = 0,
    ):
        self.progress = SweepProgress(total=total, done=done_before)
        self.on_progress = on_progress
        self.at_most = at_most
        self.done_before = done_before
        self.done: set[str] = set()
        self.running: set[str] = set()
        self.failed: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles callbacks into its tuner.pkl (written, never read by gradsweep); the
        # renderer and the search's count stay with this driver.
        return {**self.__dict__, "on_progress": None, "at_most": None}

    def _update(self) -> None:
        self.progress.done = self.done_before + len(self.done)
        self.progress.running = len(self.running)
        self.progress.failed = len(self.failed)
        if self.at_most is not None:
            seen = self.done_before + len(self.done | self.running | self.failed)
            self.progress.total = max(self.at_most(), seen)
        if self.on_progress is not None:
            self.on_progress(self.progress)

    # Tune sets a trial's status after calling these hooks, so the trial ids are tracked here.
    def on_trial_start(self, iteration, trials, trial, **info):
        self.failed.discard(trial.trial_id)  # a retry
        self.running.add(trial.trial_id)
        self._update()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        acc = result.get("val_acc")
        if acc is not None and (self.progress.best_val_acc or 0) < acc:
            self.progress.best_val_acc = acc
        self._update()

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)
        self.done.add(trial.trial_id)
        self._update()

    def on_trial_error(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)
        self.failed.add(trial.trial_id)
        self._update()
