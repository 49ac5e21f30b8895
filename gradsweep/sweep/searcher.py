"""A Ray Tune `Searcher` around the pure frontier search (`gradsweep.frontier_search`).

Tune saves a searcher's state with its experiment state, which lags by seconds: after a
driver kill the saved walk may not know trials that finished or started since. On restore
the walk is therefore rebuilt from the trials' own records, keyed by config: a finished
trial's `final.json` is its outcome, a trial Tune will resume is never suggested again, and
a trial Tune has no record of and that never finished is set aside so its config runs anew.
"""

from __future__ import annotations

import logging
import pickle
from typing import Any

import pyarrow.fs as pafs
from ray.tune.search import Searcher

from gradsweep import layout
from gradsweep.frontier_search import FINISHED, FrontierSearch
from gradsweep.storage_io import filesystem, read_json
from gradsweep.tune_state import read_trials

log = logging.getLogger(__name__)


class FrontierSearcher(Searcher):
    """Suggests the frontier walk's configs; a trial's `final.solved` is its outcome."""

    def __init__(self, search: FrontierSearch, experiment: str):
        super().__init__()
        self.search = search
        self.experiment = experiment
        self.trials: dict[str, dict[str, Any]] = {}  # trial id -> config

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        config = self.search.suggest()
        if config is None:
            return None
        if config == FINISHED:
            return Searcher.FINISHED
        self.trials[trial_id] = config
        return {"trial": config}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        config = self.trials.pop(trial_id, None) or self._recorded_config(trial_id)
        if config is None:
            log.warning("trial %s completed with no known config; not counted", trial_id)
            return
        # A trial that failed after all its retries counts as a seed that did not solve.
        self.search.record(config, not error and self._solved(trial_id, result or {}))

    def _solved(self, trial_id: str, result: dict[str, Any]) -> bool:
        """Tune hands searchers the last result flattened ("final/solved"); the trial's
        own final record says the same and is read when the result does not."""
        if "final/solved" in result:
            return bool(result["final/solved"])
        fs, root = filesystem(self.experiment)
        final = read_json(fs, f"{root}/{trial_id}/{layout.FINAL}") or {}
        return bool((final.get("final") or {}).get("solved"))

    def _recorded_config(self, trial_id: str) -> dict[str, Any] | None:
        fs, root = filesystem(self.experiment)
        params = read_json(fs, f"{root}/{trial_id}/{layout.PARAMS}")
        return None if params is None else params.get("trial")

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as stream:
            pickle.dump({"search": self.search, "trials": self.trials}, stream)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as stream:
            state = pickle.load(stream)  # written by `save` above, in this experiment
        self.search, self.trials = state["search"], state["trials"]
        self.sync_with_records()

    def sync_with_records(self, set_aside: bool = True) -> None:
        """Bring the walk up to what the experiment directory says happened; `set_aside`
        moves unfinished trials that Tune does not know into `.abandoned/`."""
        fs, root = filesystem(self.experiment)
        known = read_trials(fs, root)  # what Tune will restore
        selector = pafs.FileSelector(root, allow_not_found=True)
        for info in fs.get_file_info(selector):
            if info.type != pafs.FileType.Directory or info.base_name.startswith("."):
                continue
            trial_id = info.base_name
            params = read_json(fs, f"{info.path}/{layout.PARAMS}")
            if params is None:
                continue
            config = params.get("trial", params)
            final = read_json(fs, f"{info.path}/{layout.FINAL}")
            if final is not None:
                self.search.record(config, bool((final.get("final") or {}).get("solved")))
            elif trial_id in known:
                self.search.mark_running(config)
            elif set_aside:
                set_aside = f"{root}/{layout.ABANDONED}/{trial_id}"
                fs.create_dir(f"{root}/{layout.ABANDONED}", recursive=True)
                fs.move(info.path, set_aside)
                log.warning(
                    "trial %s: unknown to Tune, unfinished; moved to %s", trial_id, set_aside
                )
        for trial_id, trial in known.items():
            if trial_id not in self.trials and trial["config"]:
                self.trials[trial_id] = trial["config"]
                self.search.mark_running(trial["config"])
