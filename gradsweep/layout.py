"""The experiment directory's layout: file names and where an experiment lives.

```
<storage>/<name>/
  gradsweep.json              manifest: spec, versions, resources, nodes (MANIFEST)
  experiment_state-*.json     Tune's experiment state; trial statuses are read from it
  tuner.pkl                   Tune's own state (written by Tune; never read by gradsweep)
  driver.log                  Ray's and Tune's driver messages
  <trial>/                    named from the trial's config (`trial_dirname`)
    params.json               the trial's config, {"trial": {...}} (PARAMS)
    epochs.jsonl              one strict JSON line per epoch, the last with "final" (EPOCHS)
    final.json                the last line again, once the trial has finished (FINAL)
    state-NNNNNN/             the newest saved TrialState (state.json written last)
    error.txt                 Tune's record of a failed attempt
  .gradsweep-cache/           the readers' parquet cache
```

Locations are local paths or storage URIs (`s3://`, `gs://`, `file://`), which may carry a
query (`s3://bucket/prefix?endpoint_override=host:port&scheme=http`, the form Ray documents
for S3-compatible stores): names join the URI's path and the query is kept (`join`).
Nothing here reads or writes a file except the check that a local directory exists.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gradsweep.errors import ConfigError

MANIFEST = "gradsweep.json"
PARAMS = "params.json"
# gradsweep's own record of a trial, one JSON line per epoch, written by `TrialStore`.
# Tune's result.json is not enough: a trial Tune restores as PENDING gets a new, empty
# result.json (measured with Ray 2.60 after a driver kill: finished epochs were gone).
EPOCHS = "epochs.jsonl"
FINAL = "final.json"
ERROR = "error.txt"
STATE_PREFIX = "state-"
EXPERIMENT_STATE_PREFIX = "experiment_state-"
TUNER_STATE = "tuner.pkl"
DRIVER_LOG = "driver.log"
CACHE_DIR = ".gradsweep-cache"
# Ray Tune's trial status strings.
STATUSES = ("TERMINATED", "ERROR", "RUNNING", "PENDING", "PAUSED")
# The manifest's `layout`: 2 named trial directories by config (earlier ones, with no
# `layout` key, used Tune's trial ids and can be read but not resumed); 3 made
# `recurrent_init: orthogonal` mean orthogonal per gate block on LSTM and GRU (before, it
# was Keras's orthogonal over the fused matrix, now `orthogonal_fused`; `results` reads
# older experiments' rows with the name of what ran).
LAYOUT_VERSION = 3
# The first layout whose LSTM/GRU `orthogonal` is per gate block.
PER_BLOCK_INIT = 3
# The files the readers need; a remote experiment's mirror holds these and nothing else.
MIRRORED = (MANIFEST, PARAMS, EPOCHS, FINAL, ERROR)


def is_uri(location: str) -> bool:
    """True for a storage URI (`s3://...`), False for a local path."""
    return "://" in location


def join(location: str, *names: str) -> str:
    """`location` with `names` appended to its path; a URI's query stays at the end.

    `join("s3://b/p?scheme=http", "exp")` is `"s3://b/p/exp?scheme=http"`; a trailing
    slash is not doubled; local paths join as strings.
    """
    if not is_uri(location):
        return "".join([location.rstrip("/"), *(f"/{name}" for name in names)])
    parts = urlsplit(location)
    path = "/".join([parts.path.rstrip("/"), *names])
    return urlunsplit(parts._replace(path=path))


def split(location: str) -> tuple[str, str]:
    """A location as (its parent, its last name); the inverse of `join` (query kept)."""
    if not is_uri(location):
        parent, _, name = location.rstrip("/").rpartition("/")
        return parent or "/", name
    parts = urlsplit(location)
    parent, _, name = parts.path.rstrip("/").rpartition("/")
    return urlunsplit(parts._replace(path=parent)), name


def name_of(location: str) -> str:
    """The last component of a location's path: the experiment's name."""
    return split(location)[1]


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
        return join(storage, name_or_path)
    return str(experiment_path(name_or_path, storage))


# --- trial directories ------------------------------------------------------------------

# Fields that say how a trial runs, not what it computes: a resume may change them.
RUN_FIELDS = ("threads",)
_UNSAFE = re.compile(r"[^A-Za-z0-9.+-]+")
_MAX_LABEL = 96  # of a directory name's 255 bytes, leaving room for the hash


def config_key(config: dict[str, Any]) -> str:
    """A trial's identity: a short hash of its config (sorted JSON, run fields left out)."""
    kept = {k: v for k, v in config.items() if k not in RUN_FIELDS}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def trial_dirname(config: dict[str, Any], swept: tuple[str, ...] = ()) -> str:
    """A trial directory's name: the swept values, readable, then the config's hash.

    `arch-lstm_gap-50_seed-0_3fa2b1c9d0`: the hash makes it collision-free and stable (the
    same config always gets the same directory, whatever Tune calls the trial); the values
    make it findable by eye. A None value (a clip that is off) reads "off".
    """
    label = "_".join(
        f"{field}-{_UNSAFE.sub('', 'off' if config.get(field) is None else str(config[field]))}"
        for field in swept
    )[:_MAX_LABEL]
    return f"{label}_{config_key(config)}" if label else config_key(config)


def swept_fields(configs: list[dict[str, Any]]) -> tuple[str, ...]:
    """The fields whose value differs between `configs`, in the configs' field order."""
    if not configs:
        return ()
    fields = [f for f in configs[0] if f not in RUN_FIELDS]
    return tuple(f for f in fields if len({json.dumps(c.get(f)) for c in configs}) > 1)
