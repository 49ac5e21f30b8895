"""An experiment directory into tidy pandas DataFrames, without a running Ray.

`load_results(name_or_path)` reads every trial's `params.json` and `epochs.jsonl` (the
layout is `gradsweep.layout`'s) and the statuses Tune recorded in its experiment state
(plain JSON; nothing is unpickled), and returns `ResultSet.trials`, `.epochs` and
`.profiles`. Every trial's log goes through one columnar reader (Arrow's JSON reader over
one buffer). The tables are cached as parquet next to the experiment and rebuilt when a
trial changes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.json as pajson

from gradsweep import layout
from gradsweep.analysis import aggregate, wilson_interval
from gradsweep.layout import CACHE_DIR, STATUSES, experiment_location, experiment_path
from gradsweep.mirror import mirror
from gradsweep.records import SUMMARY_FIELDS, summarize_epochs
from gradsweep.results_cache import (
    cache_paths,
    cache_profiles,
    fingerprint,
    read_cached,
    write_cache,
)
from gradsweep.storage_io import read_json
from gradsweep.tables import (
    CONFIG_FIELDS,
    EPOCH_COLUMNS,
    config_frame,
    epoch_profiles,
    profile_frame,
    summary_frame,
    typed_epochs,
)
from gradsweep.tune_state import read_statuses, trial_status

log = logging.getLogger(__name__)

__all__ = [
    "CACHE_DIR",
    "ResultSet",
    "aggregate",
    "experiment_path",
    "load_results",
    "status_counts",
    "wilson_interval",
]


@dataclass
class ResultSet:
    """The tidy tables of one experiment; `profiles` is read on first use."""

    path: str
    trials: pd.DataFrame
    epochs: pd.DataFrame
    _profiles: pd.DataFrame | None = field(default=None, repr=False)
    _loader: Any = field(default=None, repr=False)
    manifest: dict[str, Any] = field(default_factory=dict)
    # Several experiments loaded together: rows each one contributed, and how many trials
    # were dropped as repeats of a config (seed included) an earlier experiment ran.
    experiments: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)

    @property
    def expected_trials(self) -> int | None:
        """The grid's size from the manifest; None for a frontier search, which never
        means to run the whole grid."""
        search = (self.manifest.get("spec") or {}).get("search") or {}
        return None if search.get("method") == "frontier" else self.manifest.get("trials")

    @property
    def profiles(self) -> pd.DataFrame:
        """One row per trial, epoch and input position (epoch 0 = before training)."""
        if self._profiles is None:
            self._profiles = self._loader()
        return self._profiles


# --- the reader -------------------------------------------------------------------------


def _trial_dirs(path: Path) -> list[Path]:
    return sorted(p.parent for p in path.glob(f"*/{layout.PARAMS}"))


def _read_params(directory: Path) -> dict[str, Any]:
    params = json.loads((directory / layout.PARAMS).read_text())
    return params.get("trial", params)


def _complete_lines(data: bytes) -> bytes:
    """A log up to its last newline (a torn last line is dropped), without blank lines."""
    data = data[: data.rfind(b"\n") + 1]
    if b"\n\n" in data or data.startswith(b"\n"):  # never written by gradsweep: slow path
        data = b"".join(line + b"\n" for line in data.split(b"\n") if line.strip())
    return data


def _parsable_prefix(data: bytes) -> bytes:
    """The lines of a log before the first that is not JSON (a log damaged in the middle)."""
    lines = data.splitlines(keepends=True)
    for i, line in enumerate(lines):
        try:
            json.loads(line)
        except ValueError:
            return b"".join(lines[:i])
    return data


def _read_logs(directories: list[Path]) -> tuple[pa.Table | None, np.ndarray]:
    """Every trial's complete epoch lines as one Arrow table, and each row's trial id."""
    logs = []
    for directory in directories:
        file = directory / layout.EPOCHS
        logs.append(_complete_lines(file.read_bytes()) if file.exists() else b"")
    for attempt in range(2):
        names = np.array([d.name for d in directories], dtype=str)  # float64 when empty
        ids = np.repeat(names, [data.count(b"\n") for data in logs])
        if not len(ids):
            return None, ids
        try:
            return pajson.read_json(pa.BufferReader(b"".join(logs))), ids
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            if attempt:
                raise
            log.warning("damaged epoch log line (%s); each log is read up to its damage", err)
            logs = [_parsable_prefix(data) for data in logs]
    raise AssertionError("unreachable")


def _build(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, Callable[[], pd.DataFrame]]:
    """The trials and epochs tables, and a function that makes the profiles table."""
    directories = _trial_dirs(path)
    table = _log_table(directories)
    plain = [c for c in ("trial_id", *EPOCH_COLUMNS, "node") if c in table.column_names]
    rows = table.select(plain).to_pandas()
    rows["_row"] = np.arange(len(rows))
    # A resumed trial may report an epoch again: the last report of it counts.
    rows = rows.drop_duplicates(["trial_id", "epoch"], keep="last").sort_values(
        ["trial_id", "epoch"], kind="stable"
    )
    epochs = typed_epochs(rows.reindex(columns=["trial_id", *EPOCH_COLUMNS]).reset_index(drop=True))
    last = rows.groupby("trial_id", sort=False).tail(1).set_index("trial_id")
    finals = dict(zip(last.index, _finals(table, last["_row"].to_numpy()), strict=True))
    nodes = last["node"].to_dict() if "node" in last else {}
    trials = _trials_table(path, directories, epochs, finals, nodes)
    init_profiles = [
        (t, 0, f["grad_profile_init"])
        for t, f in finals.items()
        if f and f.get("grad_profile_init")
    ]
    kept = pa.array(rows["_row"].to_numpy())

    def profiles() -> pd.DataFrame:
        frames = [profile_frame(init_profiles)]
        if "grad_profile" in table.column_names:
            frames.append(
                epoch_profiles(table.select(["trial_id", "epoch", "grad_profile"]).take(kept))
            )
        return pd.concat(frames, ignore_index=True).sort_values(
            ["trial_id", "epoch", "position"], kind="stable", ignore_index=True
        )

    return trials, epochs, profiles


def _log_table(directories: list[Path]) -> pa.Table:
    """Every trial's epoch lines, each row's `trial_id` its directory's name."""
    table, ids = _read_logs(directories)
    if table is None:
        table = pa.table({"epoch": pa.array([], pa.int64())})
    if "trial_id" in table.column_names:  # the directory names the trial, not the line
        table = table.drop_columns(["trial_id"])
    return table.add_column(0, "trial_id", pa.array(ids, pa.string()))


def _trials_table(
    path: Path,
    directories: list[Path],
    epochs: pd.DataFrame,
    finals: dict[str, dict[str, Any] | None],
    nodes: dict[str, Any],
) -> pd.DataFrame:
    """One row per trial directory: status (`trial_status`), config, summary, node."""
    statuses = read_statuses(pafs.LocalFileSystem(), str(path))
    unfinished = epochs[~epochs["trial_id"].isin([t for t, f in finals.items() if f])]
    per_trial = dict(iter(unfinished.groupby("trial_id", sort=False)))
    summaries, heads, configs = [], [], []
    for directory in directories:
        trial_id = directory.name
        final = finals.get(trial_id)
        if final:
            summary = {k: final.get(k) for k in SUMMARY_FIELDS}
        elif trial_id in per_trial:  # unfinished: what its epochs so far say
            summary = summarize_epochs(per_trial[trial_id].to_dict("records"))
        else:
            summary = {}
        errored = (directory / layout.ERROR).exists()
        status = trial_status(statuses.get(trial_id), bool(final), errored)
        heads.append({"trial_id": trial_id, "status": status, "node": nodes.get(trial_id)})
        summaries.append(summary)
        configs.append(_read_params(directory))
    head = pd.DataFrame(heads, columns=["trial_id", "status", "node"]).astype("string")
    parts = [head[["trial_id", "status"]], config_frame(configs), summary_frame(summaries)]
    return pd.concat([*parts, head[["node"]]], axis=1)


def _finals(table: pa.Table, rows: np.ndarray) -> list[dict[str, Any] | None]:
    if "final" not in table.column_names:
        return [None] * len(rows)
    return table.column("final").take(pa.array(rows)).to_pylist()


# --- entry points -----------------------------------------------------------------------


DEFAULT_CACHE = Path.home() / ".cache" / "gradsweep"


def load_results(
    name_or_path: str | os.PathLike | list[str | os.PathLike] | tuple[str | os.PathLike, ...],
    storage: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> ResultSet:
    """The tidy tables of an experiment, by name under `storage`, by path, or by storage URI
    (`s3://`, `gs://`, `file://`); or of several, given as a list (see `combine`).

    Works without Ray, on a copied directory, and on an interrupted sweep (unfinished trials
    are included with their status). A parquet cache makes the second load fast. A remote
    experiment's reader files are mirrored into `cache_dir` (default `~/.cache/gradsweep`),
    in a folder named by a hash of its URI, and fetched again only when their remote size
    or modification time changed; the parquet cache lives in that mirror.
    """
    if isinstance(name_or_path, list | tuple):
        return combine([load_results(n, storage, cache_dir) for n in name_or_path])
    location = experiment_location(str(name_or_path), storage)
    if location.startswith("file://"):
        path = experiment_path(location.removeprefix("file://"))
    elif layout.is_uri(location):
        path = mirror(location, Path(cache_dir or DEFAULT_CACHE))
        loaded = _load(path)
        loaded.path = location
        return loaded
    else:
        path = Path(location)
    return _load(path)


def as_run(trials: pd.DataFrame, manifest: dict[str, Any]) -> pd.DataFrame:
    """`trials` with each config named as it ran: in experiments written before
    `layout.PER_BLOCK_INIT`, an LSTM's or GRU's `orthogonal` was Keras's fused orthogonal,
    which is `orthogonal_fused` now."""
    if int(manifest.get("layout") or 1) >= layout.PER_BLOCK_INIT or trials.empty:
        return trials
    fused = trials["arch"].isin(["lstm", "gru"]) & (trials["recurrent_init"] == "orthogonal")
    if not fused.any():
        return trials
    trials = trials.copy()
    trials.loc[fused, "recurrent_init"] = "orthogonal_fused"
    return trials


def _load(path: Path) -> ResultSet:
    """The tables of a local experiment directory, from its parquet cache when still valid."""
    key = fingerprint(path)
    manifest = read_json(pafs.LocalFileSystem(), str(path / layout.MANIFEST)) or {}
    profiles_file = cache_paths(path)["profiles"]
    cached = read_cached(path, key)
    if cached is not None:

        def load_profiles() -> pd.DataFrame:
            try:
                return pd.read_parquet(profiles_file)
            except (OSError, ValueError):  # not made yet, or damaged
                return cache_profiles(path, _build(path)[2]())

        trials, epochs = cached
        return ResultSet(
            str(path), as_run(trials, manifest), epochs, _loader=load_profiles, manifest=manifest
        )
    trials, epochs, make_profiles = _build(path)
    write_cache(path, key, (trials, epochs))
    return ResultSet(
        str(path),
        as_run(trials, manifest),
        epochs,
        _loader=lambda: cache_profiles(path, make_profiles()),
        manifest=manifest,
    )


def combine(sets: list[ResultSet]) -> ResultSet:
    """Several experiments as one: their trials concatenated with an `experiment` column
    (the directory's name). A config run by more than one (same settings, same seed)
    counts once, the first experiment's; `duplicates` says how many each lost and
    `experiments` how many rows each contributed."""
    if len(sets) == 1:
        return sets[0]
    names = _unique_names([layout.name_of(rs.path) for rs in sets])
    clash = pd.concat([rs.trials["trial_id"] for rs in sets]).duplicated().any()
    trials, epochs, profiles = [], [], []
    seen: set[tuple] = set()
    kept_counts, dropped = {}, {}
    for name, rs in zip(names, sets, strict=True):
        frame = rs.trials.copy()
        keys = [tuple(map(_key_value, row)) for row in frame[CONFIG_FIELDS].itertuples(False)]
        repeat = np.array([key in seen for key in keys], dtype=bool)
        seen.update(keys)
        frame = frame[~repeat]
        kept_counts[name], dropped[name] = len(frame), int(repeat.sum())
        rename = (lambda t, n=name: f"{n}/{t}") if clash else (lambda t: t)
        kept = set(frame["trial_id"])
        frame = frame.assign(trial_id=frame["trial_id"].map(rename).astype("string"))
        frame.insert(1, "experiment", pd.array([name] * len(frame), dtype="string"))
        trials.append(frame)
        part = rs.epochs[rs.epochs["trial_id"].isin(kept)]
        epochs.append(part.assign(trial_id=part["trial_id"].map(rename).astype("string")))
        profiles.append((rs, kept, rename))

    def load_profiles() -> pd.DataFrame:
        frames = []
        for rs, kept, rename in profiles:
            part = rs.profiles[rs.profiles["trial_id"].isin(kept)]
            frames.append(part.assign(trial_id=part["trial_id"].map(rename).astype("string")))
        return pd.concat(frames, ignore_index=True)

    return ResultSet(
        " + ".join(rs.path for rs in sets),
        pd.concat(trials, ignore_index=True),
        pd.concat(epochs, ignore_index=True),
        _loader=load_profiles,
        experiments=kept_counts,
        duplicates=dropped,
    )


def _key_value(value: Any) -> Any:
    return None if pd.isna(value) else value


def _unique_names(names: list[str]) -> list[str]:
    out = []
    for name in names:
        candidate, i = name, 2
        while candidate in out:
            candidate, i = f"{name}-{i}", i + 1
        out.append(candidate)
    return out


def status_counts(results: ResultSet) -> dict[str, int]:
    """Trials by status, grid points not yet started counted as PENDING."""
    counts = results.trials["status"].value_counts().to_dict()
    expected = results.expected_trials
    if expected:
        counts["PENDING"] = counts.get("PENDING", 0) + max(0, expected - len(results.trials))
    return {s: int(counts.get(s, 0)) for s in STATUSES if counts.get(s)}
