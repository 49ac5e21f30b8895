"""The results reader's parquet cache of an experiment's tables, kept next to it.

The cache is valid while the files it was built from are unchanged (`fingerprint`: sizes
and modification times of every trial file and of Tune's state); its key file is written
last, so a half-written cache is never taken for a valid one. An experiment that cannot
be written to (a read-only copy) still loads, uncached.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from gradsweep import experiment as layout
from gradsweep.experiment import CACHE_DIR

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
    return {"version": CACHE_VERSION, "files": stats}


def files(path: Path) -> dict[str, Path]:
    cache = path / CACHE_DIR
    return {name: cache / f"{name}.parquet" for name in ("trials", "epochs", "profiles")} | {
        "key": cache / "key.json"
    }


def _write_frame(frame: pd.DataFrame, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, target)


def write(path: Path, key: dict, frames: tuple[pd.DataFrame, ...]) -> None:
    paths = files(path)
    try:
        paths["key"].parent.mkdir(exist_ok=True)
        paths["profiles"].unlink(missing_ok=True)  # made again, on first use, from these files
        for name, frame in zip(("trials", "epochs"), frames, strict=True):
            _write_frame(frame, paths[name])
        tmp = paths["key"].with_name(f".key.json.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(key))
        os.replace(tmp, paths["key"])  # the key last: a half-written cache is never valid
    except OSError as err:  # a read-only copy of an experiment still loads
        log.info("results cache not written in %s: %s", path, err)


def read(path: Path, key: dict) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    paths = files(path)
    try:
        if json.loads(paths["key"].read_text()) != key:
            return None
        return pd.read_parquet(paths["trials"]), pd.read_parquet(paths["epochs"])
    except (OSError, ValueError, json.JSONDecodeError) as err:
        # A truncated or foreign cache file: rebuild from the trial files.
        log.info("results cache in %s unusable (%s); rebuilding", path, err)
        return None


def keep_profiles(path: Path, profiles: pd.DataFrame) -> pd.DataFrame:
    try:
        _write_frame(profiles, files(path)["profiles"])
    except OSError as err:
        log.info("profiles cache not written in %s: %s", path, err)
    return profiles
