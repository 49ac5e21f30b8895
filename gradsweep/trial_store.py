"""A trial's own records on the experiment's storage: the writer of `gradsweep.layout`.

`TrialStore` appends one strict JSON line per epoch, keeps the newest saved state and
writes `final.json` when the trial ends; `scan_records` reads what every trial directory
says (config, status, finished, solved), which is all `resume` needs. Neither needs Ray:
where the trial runs (node id, process, granted resources) comes in as an argument from the
Ray edge (`gradsweep.sweep.trainable`), so a write-then-read round trip is a unit test.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow.fs as pafs

from gradsweep import layout
from gradsweep.records import EpochMetrics, TrialResult, TrialState, strict_json
from gradsweep.storage_io import (
    append_line,
    exists,
    filesystem,
    read_json,
    subdirectories,
    write_atomic,
)
from gradsweep.tune_state import read_statuses, trial_status

_STATE_FILES = ("arrays.npz", "state.json")  # state.json last: it marks a save complete


class TrialStore:
    """A trial's records in `<experiment>/<directory>/`.

    `where` is stamped on every epoch line: `{"node": ..., "pid": ..., "resources": ...}`
    as the Ray edge knows them (any JSON-able values; empty outside Ray).
    """

    def __init__(self, experiment: str, directory: str, where: dict[str, Any] | None = None):
        self.fs, root = filesystem(experiment)
        self.name = directory
        self.directory = f"{root}/{directory}"
        self.where = dict(where or {})

    def keep_config(self, config: dict[str, Any]) -> None:
        """Write the trial's `params.json` unless Tune has: Tune writes it from the driver,
        which may die before it does (seen with Ray 2.60: finished trials without one), and
        a trial's records must say which config they belong to."""
        path = f"{self.directory}/{layout.PARAMS}"
        if not exists(self.fs, path):
            self.fs.create_dir(self.directory, recursive=True)
            write_atomic(self.fs, path, json.dumps(config))

    def final(self) -> dict[str, Any] | None:
        """The last row of a trial that finished before, or None."""
        return read_json(self.fs, f"{self.directory}/{layout.FINAL}")

    def record(
        self, metrics: EpochMetrics, state: TrialState | None, result: TrialResult | None
    ) -> dict[str, Any]:
        """Append the epoch's line, save `state`, finish on `result`; returns the row."""
        row = {"trial_id": self.name, **asdict(metrics), **self.where, "time": time.time()}
        if result is not None:
            row["final"] = {
                **result.summary(),
                "grad_profile_init": result.init.get("grad_profile"),
            }
        row = strict_json(row)  # one strict JSON line: readers parse it in bulk
        line = json.dumps(row, allow_nan=False)
        append_line(self.fs, f"{self.directory}/{layout.EPOCHS}", line)
        if state is not None:
            self._save_state(state)
        if result is not None:
            write_atomic(self.fs, f"{self.directory}/{layout.FINAL}", line)
            self._clear_states()  # a finished trial needs no state: disk use stays small
        return row

    # Saved states: each save is a new `state-NNNNNN/` directory whose `state.json` is
    # written last, so a save cut short is never loaded; older ones are deleted after a save.
    # Tune's own checkpoints are not used: its experiment state can lag behind and point at
    # a checkpoint that `num_to_keep` has already deleted, and then its restore fails
    # (measured with Ray 2.60 after killing the driver: "Could not recover from checkpoint
    # as it does not exist on storage anymore").

    def saved(self) -> list[str]:
        """The paths of the saved-state directories, oldest first."""
        selector = pafs.FileSelector(self.directory, allow_not_found=True)
        found = self.fs.get_file_info(selector)
        return sorted(
            i.path
            for i in found
            if i.base_name.startswith(layout.STATE_PREFIX) and i.type == pafs.FileType.Directory
        )

    def _save_state(self, state: TrialState) -> None:
        target = f"{self.directory}/{layout.STATE_PREFIX}{state.epoch:06d}"
        with tempfile.TemporaryDirectory(prefix="gradsweep-state-") as local:
            state.save(local)
            self.fs.create_dir(target, recursive=True)
            for name in _STATE_FILES:
                _copy(f"{local}/{name}", pafs.LocalFileSystem(), f"{target}/{name}", self.fs)
        for old in self.saved():
            if old != target:
                self.fs.delete_dir(old)

    def latest_state(self) -> TrialState | None:
        """The newest complete saved state, or None."""
        for path in reversed(self.saved()):
            if self.fs.get_file_info(f"{path}/state.json").type != pafs.FileType.File:
                continue  # cut short
            with tempfile.TemporaryDirectory(prefix="gradsweep-state-") as local:
                for name in _STATE_FILES:
                    _copy(f"{path}/{name}", self.fs, f"{local}/{name}", pafs.LocalFileSystem())
                return TrialState.load(local)
        return None

    def _clear_states(self) -> None:
        for path in self.saved():
            self.fs.delete_dir(path)


def _copy(source: str, source_fs: pafs.FileSystem, dest: str, dest_fs: pafs.FileSystem) -> None:
    pafs.copy_files(source, dest, source_filesystem=source_fs, destination_filesystem=dest_fs)


@dataclass(frozen=True)
class TrialRecord:
    """What an experiment's files say about one trial directory."""

    directory: str
    config: dict[str, Any]  # as the trainable got it, `{"trial": ...}` unwrapped
    status: str  # `tune_state.trial_status`: the records first, then Tune's state
    final: bool  # `final.json` exists
    solved: bool  # its final row says so (False while unfinished)
    diverged: bool  # likewise


def scan_records(experiment: str) -> dict[str, TrialRecord]:
    """Every trial directory of `experiment` that holds a `params.json`, by name.

    Reads `params.json` and `final.json` of each, and Tune's newest state (JSON) for the
    status of those without a final row. No file is unpickled.
    """
    fs, root = filesystem(experiment)
    tune = read_statuses(fs, root)
    records = {}
    for info in subdirectories(fs, root):
        params = read_json(fs, f"{info.path}/{layout.PARAMS}")
        if params is None:
            continue  # not a trial (or one Tune created but never started)
        final = read_json(fs, f"{info.path}/{layout.FINAL}")
        outcome = (final or {}).get("final") or {}
        errored = exists(fs, f"{info.path}/{layout.ERROR}")
        name = info.base_name
        records[name] = TrialRecord(
            directory=name,
            config=params.get("trial", params),
            status=trial_status(tune.get(name), final is not None, errored),
            final=final is not None,
            solved=bool(outcome.get("solved")),
            diverged=bool(outcome.get("diverged")),
        )
    return records
