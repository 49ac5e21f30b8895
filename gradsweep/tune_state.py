"""Ray Tune's experiment state, read as plain JSON, and the one rule for a trial's status.

Tune's `experiment_state-*.json` holds each trial's own JSON (some of its fields are
pickled by Tune; those are left alone, never unpickled). Tune's state lags behind the
trials' own records by seconds, so a trial's status is decided by `trial_status`: its
records first, then Tune's word. Nothing here imports Ray.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pyarrow.fs as pafs

from gradsweep.layout import EXPERIMENT_STATE_PREFIX
from gradsweep.storage_io import read_json

log = logging.getLogger(__name__)


def is_state_file(name: str) -> bool:
    """Whether a file name is one of Tune's experiment states."""
    return name.startswith(EXPERIMENT_STATE_PREFIX) and name.endswith(".json")


def trials_of(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Trial directory name -> {"status", "config", "trial_id"} from a parsed experiment
    state. `config` is the trial's config as the trainable gets it (`{"trial": {...}}`
    unwrapped), or None. Keyed by the directory (Tune's `relative_logdir`), which is what
    the readers know a trial by; states without one are keyed by Tune's trial id."""
    trials = {}
    for trial_json, _runtime in state.get("trial_data", []):
        trial = json.loads(trial_json)
        config = trial.get("config")
        config = config.get("trial") if isinstance(config, dict) else None
        directory = trial.get("relative_logdir") or trial["trial_id"]
        trials[directory] = {
            "status": trial["status"],
            "config": config,
            "trial_id": trial["trial_id"],
        }
    return trials


def read_trials(fs: pafs.FileSystem, root: str) -> dict[str, dict[str, Any]]:
    """`trials_of` Tune's newest experiment state; {} when there is none."""
    selector = pafs.FileSelector(root, allow_not_found=True)
    found = fs.get_file_info(selector)
    states = sorted(info.path for info in found if is_state_file(info.base_name))
    if not states:
        return {}
    data = read_json(fs, states[-1])
    if data is None:
        log.warning(
            "unreadable experiment state %s; statuses inferred from trial files", states[-1]
        )
        return {}
    return trials_of(data)


def read_statuses(fs: pafs.FileSystem, root: str) -> dict[str, str]:
    """Trial directory -> status from Tune's newest experiment state; {} when none."""
    return {name: trial["status"] for name, trial in read_trials(fs, root).items()}


def trial_status(tune: str | None, final: bool, errored: bool) -> str:
    """A trial's status, the one rule that `status`, `watch`, `resume` and the progress bar
    share, for a trial directory holding a `params.json`: its own records first, since
    Tune's saved state lags by seconds (a trial that wrote its final row has finished,
    whatever the state file still says), else Tune's word, else what its files say (an
    error file: ERROR; none: RUNNING).

    Tune's PENDING reads as RUNNING unless the trial has an error file (then a failed
    attempt waits for its retry): Tune writes `params.json` when it starts a trial (its
    JSON logger's `on_trial_start`; the trainable writes it too), so the directory's trial
    has started. Tune saves its state at most every 10 s (Ray 2.60's automatic period), and
    a trial started on a freed worker since then is still PENDING there; measured: a watch
    of 2 trials at once on 2 CPUs said "2 terminated, 6 pending" while 2 ran. A trial not
    yet started has no `params.json`, so no row: `status_counts` counts it PENDING.

    `tune`: Tune's status or None; `final`: a final row exists; `errored`: Tune wrote an
    error file.
    """
    if final:
        return "TERMINATED"
    if tune is None:
        return "ERROR" if errored else "RUNNING"
    return "RUNNING" if tune == "PENDING" and not errored else tune
