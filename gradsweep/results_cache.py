"""The readers' parquet cache inside an experiment directory (`.gradsweep-cache/`).

Valid while the key is unchanged: the tables' columns (so a gradsweep with new config
fields or metrics rebuilds it) and the sizes and times of every trial file and of Tune's
state. The key is written last, so a cache cut short is never taken for valid. A read-only
experiment still loads: the cache is then simply not written.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from gradsweep import layout
from gradsweep.layout import CACHE_DIR
from gradsweep.storage_io import write_local
from gradsweep.tables import CONFIG_FIELDS, EPOCH_FIELDS, SUMMARY_FIELDS

log = logging.getLogger(__name__)

CACHE_VERSION = 3


def fingerprint(path: Path) -> dict[str, Any]:
    """What the cache depends on: sizes and times of every trial file and of Tune's state."""
    patterns = [f"*/{layout.PARAMS}", f"*/{layout.EPOCHS}", f"*/{layout.ERROR}"]
    patterns.append(f"{layout.EXPERIMENT_STATE_PREFIX}*.json")
    stats = []
    for name in sorted(str(p) for pattern in patterns for p in path.glob(pattern)):
        try:
            st = os.stat(name)
        except FileNotFoundError:
            continue
        stats.append([os.path.relpath(name, path), st.st_size, st.st_mtime_ns])
    columns = [*CONFIG_FIELDS, *SUMMARY_FIELDS, *EPOCH_FIELDS]
    return {"version": CACHE_VERSION, "columns": columns, "files": stats}


def cache_paths(path: Path) -> dict[str, Path]:
    cache = path / CACHE_DIR
    return {name: cache / f"{name}.parquet" for name in ("trials", "epochs", "profiles")} | {
        "key": cache / "key.json"
    }


def _write_atomic_frame(frame: pd.DataFrame, target: Path) -> None:
    write_local(target, frame.to_parquet(index=False))


def write_cache(path: Path, key: dict, frames: tuple[pd.DataFrame, ...]) -> None:
    paths = cache_paths(path)
    try:
        paths["key"].parent.mkdir(exist_ok=True)
        paths["profiles"].unlink(missing_ok=True)  # made again, on first use, from these files
        for name, frame in zip(("trials", "epochs"), frames, strict=True):
            _write_atomic_frame(frame, paths[name])
        write_local(paths["key"], json.dumps(key))  # last: a half-made cache is never valid
    except OSError as err:  # a read-only copy of an experiment still loads
        log.info("results cache not written in %s: %s", path, err)


def read_cached(path: Path, key: dict) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    paths = cache_paths(path)
    try:
        if json.loads(paths["key"].read_text()) != key:
            return None
        return pd.read_parquet(paths["trials"]), pd.read_parquet(paths["epochs"])
    except (OSError, ValueError, json.JSONDecodeError) as err:
        # A truncated or foreign cache file: rebuild from the trial files.
        log.info("results cache in %s unusable (%s); rebuilding", path, err)
        return None


def cache_profiles(path: Path, profiles: pd.DataFrame) -> pd.DataFrame:
    try:
        _write_atomic_frame(profiles, cache_paths(path)["profiles"])
    except OSError as err:
        log.info("profiles cache not written in %s: %s", path, err)
    return profiles
