"""A Ray Tune `Searcher` around the pure frontier search (`gradsweep.frontier_search`).

The searcher keeps no state of its own worth saving: the walk is decided by the trials'
outcomes, and those are the trials' own records (`final.json`). `resume` therefore starts a
fresh searcher over a walk rebuilt from the records (`gradsweep.sweep.resume`); Tune is
never asked to save or restore it, so nothing is pickled or unpickled for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ray.tune.search import Searcher

from gradsweep import layout
from gradsweep.frontier_search import FINISHED, FrontierSearch
from gradsweep.storage_io import filesystem, read_json

log = logging.getLogger(__name__)


class FrontierSearcher(Searcher):
    """Suggests the frontier walk's configs; a trial's `final.solved` is its outcome.

    `dirname(config)` is the trial directory's name (`layout.trial_dirname` with the
    experiment's swept fields), where the final row is read when Tune's result lacks it.
    """

    def __init__(
        self, search: FrontierSearch, experiment: str, dirname: Callable[[dict[str, Any]], str]
    ):
        super().__init__()
        self.search = search
        self.experiment = experiment
        self.dirname = dirname
        self.trials: dict[str, dict[str, Any]] = {}  # Tune's trial id -> config

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        config = self.search.suggest()
        if config is None:
            return None
        if config == FINISHED:
            return Searcher.FINISHED
        self.trials[trial_id] = config
        return {"trial": config}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        config = self.trials.pop(trial_id, None)
        if config is None:
            log.warning("trial %s completed with no known config; not counted", trial_id)
            return
        # A trial that failed after all its retries counts as a seed that did not solve.
        self.search.record(config, not error and self._solved(config, result or {}))

    def _solved(self, config: dict[str, Any], result: dict[str, Any]) -> bool:
        """Tune hands searchers the last result flattened ("final/solved"); the trial's
        own final record says the same and is read when the result does not."""
        if "final/solved" in result:
            return bool(result["final/solved"])
        fs, root = filesystem(self.experiment)
        final = read_json(fs, f"{root}/{self.dirname(config)}/{layout.FINAL}") or {}
        return bool((final.get("final") or {}).get("solved"))

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: the records rebuild the walk (Tune then writes no file)."""

    def restore(self, checkpoint_path: str) -> None:
        raise NotImplementedError("gradsweep rebuilds the walk from the trials' records")
