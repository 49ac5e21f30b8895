"""The experiment directory's layout, in one place for its writer and its readers.

```
<storage>/<name>/
  gradsweep.json              manifest: spec, versions, resources, nodes (MANIFEST)
  experiment_state-*.json     Tune's experiment state; trial statuses are read from it
  tuner.pkl                   Tune's state for `Tuner.restore` (never unpickled here)
  driver.log                  Ray's and Tune's driver messages
  <trial_id>/
    params.json               the trial's config, {"trial": {...}} (written by Tune)
    epochs.jsonl              one strict JSON line per epoch, the last with "final" (EPOCHS)
    final.json                the last line again, once the trial has finished (FINAL)
    state-NNNNNN/             the newest saved TrialState (state.json written last)
    error.txt                 Tune's record of a failed attempt
  .gradsweep-cache/           the readers' parquet cache
```

Locations are local paths or storage URIs (`s3://`, `gs://`, `file://`), reached through
pyarrow's file systems. Nothing here imports Ray or TensorFlow.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from gradsweep.errors import ConfigError

log = logging.getLogger(__name__)

MANIFEST = "gradsweep.json"
PARAMS = "params.json"
# gradsweep's own record of a trial, one JSON line per epoch, written by the sweep layer's
# trainable. Tune's result.json is not enough: a trial Tune restores as PENDING gets a new,
# empty result.json (measured with Ray 2.60 after a driver kill: finished epochs were gone).
EPOCHS = "epochs.jsonl"
FINAL = "final.json"
ERROR = "error.txt"
STATE_PREFIX = "state-"
EXPERIMENT_STATE_PREFIX = "experiment_state-"
TUNER_STATE = "tuner.pkl"
DRIVER_LOG = "driver.log"
CACHE_DIR = ".gradsweep-cache"
# Trials a frontier search's resume set aside: unfinished and unknown to Tune's state.
ABANDONED = ".abandoned"
# Ray Tune's trial status strings.
STATUSES = ("TERMINATED", "ERROR", "RUNNING", "PENDING", "PAUSED")


def is_uri(location: str) -> bool:
    """True for a storage URI (`s3://...`), False for a local path."""
    return "://" in location


def filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    """The file system holding `location` and the path on it."""
    if is_uri(location):
        return pafs.FileSystem.from_uri(location)
    return pafs.LocalFileSystem(), location


def write_atomic(fs: pafs.FileSystem, path: str, data: str | bytes) -> None:
    """Write a whole file or nothing (a temporary name, then a rename)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with fs.open_output_stream(tmp) as stream:
        stream.write(data.encode() if isinstance(data, str) else data)
    fs.move(tmp, path)


def append_line(fs: pafs.FileSystem, path: str, line: str) -> None:
    """Append one line; object stores cannot append, so there the file is rewritten."""
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    data = (line + "\n").encode()
    try:
        with fs.open_append_stream(path) as stream:
            stream.write(data)
    except (NotImplementedError, pa.lib.ArrowNotImplementedError):
        try:
            with fs.open_input_stream(path) as stream:
                data = stream.read() + data
        except FileNotFoundError:
            pass
        write_atomic(fs, path, data)


def read_json(fs: pafs.FileSystem, path: str) -> dict[str, Any] | None:
    """A JSON file's content, or None when it is missing or unreadable."""
    try:
        with fs.open_input_stream(path) as stream:
            return json.loads(stream.read())
    except (FileNotFoundError, OSError, json.JSONDecodeError):
        return None


def trials_of(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Trial id -> {"status", "config"} from a parsed experiment state: each trial's own
    JSON, whose other fields (some of them pickled by Tune) are left alone. `config` is the
    trial's config as the trainable gets it (`{"trial": {...}}` unwrapped), or None."""
    trials = {}
    for trial_json, _runtime in state.get("trial_data", []):
        trial = json.loads(trial_json)
        config = trial.get("config")
        config = config.get("trial") if isinstance(config, dict) else None
        trials[trial["trial_id"]] = {"status": trial["status"], "config": config}
    return trials


def read_trials(fs: pafs.FileSystem, root: str) -> dict[str, dict[str, Any]]:
    """`trials_of` Tune's newest experiment state; {} when there is none."""
    selector = pafs.FileSelector(root, allow_not_found=True)
    states = sorted(
        info.path
        for info in fs.get_file_info(selector)
        if info.base_name.startswith(EXPERIMENT_STATE_PREFIX) and info.base_name.endswith(".json")
    )
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
    """Trial id -> status from Tune's newest experiment state; {} when there is none."""
    return {trial_id: trial["status"] for trial_id, trial in read_trials(fs, root).items()}


def experiment_path(name_or_path: str, storage: str | None = None) -> Path:
    """NAME is a path when it contains '/' or names an existing directory; else storage/NAME."""
    if "/" in name_or_path or Path(name_or_path).is_dir():
        path = Path(name_or_path).expanduser()
    else:
        path = Path(storage or "results").expanduser() / name_or_path
    if not path.is_dir():
        raise ConfigError(
            f"experiment: {str(path)!r} is not an experiment directory "
            "(give a name under --storage, or a path)",
            "experiment",
        )
    return path.resolve()
