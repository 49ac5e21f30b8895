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
import threading
from concurrent.futures import ThreadPoolExecutor
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


def experiment_location(name_or_path: str, storage: str | None = None) -> str:
    """An experiment's location as given: a storage URI (recognised before the rule that
    a NAME with '/' is a path), NAME under a URI storage, or a checked local directory."""
    if is_uri(name_or_path):
        return name_or_path
    if storage is not None and is_uri(storage) and "/" not in name_or_path:
        return f"{storage.rstrip('/')}/{name_or_path}"
    return str(experiment_path(name_or_path, storage))


# The files the readers need; a remote experiment's mirror holds these and nothing else.
MIRRORED = (MANIFEST, PARAMS, EPOCHS, FINAL, ERROR)


def storage_error(location: str, err: OSError) -> ConfigError:
    """pyarrow's S3/GCS errors as one line that names the problem."""
    text = str(err)
    if "NO_SUCH_BUCKET" in text or "bucket does not exist" in text.lower():
        problem = "its bucket does not exist"
    elif "NETWORK_CONNECTION" in text or "curlCode" in text or "timed out" in text.lower():
        problem = "the storage endpoint does not answer (check AWS_ENDPOINT_URL or the network)"
    elif any(
        code in text
        for code in ("ACCESS_DENIED", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403")
    ):
        problem = "the store rejected the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    else:
        problem = text.strip().splitlines()[0][:200] if text.strip() else type(err).__name__
    return ConfigError(f"experiment: {location!r} cannot be read: {problem}", "experiment")


def mirror(location: str, cache_root: Path) -> Path:
    """A local copy of a remote experiment's reader files, kept in `cache_root` under a
    name derived from the URI; a file is downloaded again only when its remote size or
    modification time changed, and files gone remotely are removed."""
    import hashlib

    target = cache_root / hashlib.sha256(location.encode()).hexdigest()[:20]
    index_file = target / ".remote.json"
    try:
        fs, root = filesystem(location)
        listing = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError as err:
        raise storage_error(location, err) from None
    wanted = {}
    for info in listing:
        relative = info.path[len(root) :].lstrip("/")
        parts = relative.split("/")
        keep = (len(parts) == 1 and (parts[0] == MANIFEST or _is_state(parts[0]))) or (
            len(parts) == 2 and parts[1] in MIRRORED and not parts[0].startswith(".")
        )
        if keep and info.type == pafs.FileType.File:
            wanted[relative] = [info.size, info.mtime_ns]
    if not wanted:
        bucket = root.split("/", 1)[0]
        try:
            missing = fs.get_file_info(bucket).type == pafs.FileType.NotFound
        except OSError as err:
            raise storage_error(location, err) from None
        if missing:
            raise ConfigError(
                f"experiment: {location!r} cannot be read: its bucket does not exist",
                "experiment",
            )
        raise ConfigError(
            f"experiment: {location!r} holds no gradsweep experiment (no trial records)",
            "experiment",
        )
    try:
        index = json.loads(index_file.read_text())
    except (OSError, ValueError):
        index = {}
    target.mkdir(parents=True, exist_ok=True)
    stale = [
        relative
        for relative, stamp in wanted.items()
        if index.get(relative) != stamp or not (target / relative).exists()
    ]

    def fetch(relative: str) -> None:
        local = target / relative
        local.parent.mkdir(parents=True, exist_ok=True)
        with fs.open_input_stream(f"{root}/{relative}") as stream:
            data = stream.read()
        tmp = local.with_name(f".{local.name}.tmp-{threading.get_ident()}")
        tmp.write_bytes(data)
        os.replace(tmp, local)

    # Small files, one request each: against a real store each request's latency (tens of
    # ms) is the cost, so many are fetched at once. On moto over loopback the server itself
    # is the limit: 3,000 files took 9.2 s one by one and 9.6 s sixteen at a time.
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(fetch, stale))
    except OSError as err:
        raise storage_error(location, err) from None
    for relative in set(index) - set(wanted):
        (target / relative).unlink(missing_ok=True)
    if index != wanted:
        index_file.write_text(json.dumps(wanted))
    return target


def _is_state(name: str) -> bool:
    return name.startswith(EXPERIMENT_STATE_PREFIX) and name.endswith(".json")
