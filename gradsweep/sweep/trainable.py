"""The Tune trainable: config in, `run_trial`, every epoch reported and recorded.

A trial keeps its own records in its directory (layout: `gradsweep.experiment`): one line
per epoch, its newest state, and `final.json` once finished. A trial that finds its
`final.json` has finished before (Tune's experiment state can lag behind by a few seconds
when the driver dies): it reports that row again and returns, so no trial trains twice.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict
from typing import Any

import pyarrow.fs as pafs
import ray
from ray import tune

from gradsweep import experiment as layout
from gradsweep.config import TrialConfig
from gradsweep.records import EpochMetrics, TrialResult, TrialState, strict_json
from gradsweep.train import run_trial

# Test hook: a trial whose config matches `field=value` raises before training. Read here,
# in the sweep layer, and passed to workers through Ray's runtime environment.
FAULT_ENV = "GRADSWEEP_FAULT_RAISE"
# Environment for trial workers: TensorFlow's C++ chatter stays out of the logs' way.
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore::DeprecationWarning"}


def trainable(config: dict[str, Any], experiment: str) -> None:
    """One Tune trial: `run_trial` with per-epoch reports and saved states."""
    _quiet_worker()
    cfg = TrialConfig(**config["trial"])
    store = TrialStore(experiment, tune.get_context().get_trial_id())
    store.keep_config(config)
    finished = store.final()
    if finished is not None:
        tune.report(finished)
        return
    _inject_fault(cfg)

    def on_epoch(metrics, state, result) -> None:
        tune.report(store.record(metrics, state, result))

    run_trial(cfg, on_epoch=on_epoch, state=store.latest_state())


def trainable_for(experiment: str, cpus: float, gpus: float):
    """The trainable with its experiment location and resources bound."""
    return tune.with_resources(
        tune.with_parameters(trainable, experiment=experiment), {"cpu": cpus, "gpu": gpus}
    )


def _quiet_worker() -> None:
    for key, value in WORKER_ENV.items():  # before the first trial imports TensorFlow
        os.environ.setdefault(key, value)
    # Every trial builds a new model and traces new functions; TensorFlow's warning about
    # retracing is expected here, not a sign of waste.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def _inject_fault(cfg: TrialConfig) -> None:
    fault = os.environ.get(FAULT_ENV)
    if fault:
        key, _, value = fault.partition("=")
        if str(getattr(cfg, key, None)) == value:
            raise RuntimeError(f"fault injected by {FAULT_ENV}={fault}")


class TrialStore:
    """A trial's records on the experiment's storage: epoch lines, newest state, final row."""

    def __init__(self, experiment: str, trial_id: str):
        self.fs, root = layout.filesystem(experiment)
        self.trial_id = trial_id
        self.directory = f"{root}/{trial_id}"
        context = ray.get_runtime_context()
        self.where = {
            "node": context.get_node_id(),
            "pid": os.getpid(),
            "resources": context.get_assigned_resources(),  # what Ray granted this trial
        }

    def keep_config(self, config: dict[str, Any]) -> None:
        """Write the trial's `params.json` unless Tune has: Tune writes it from the driver,
        which may die before it does (seen with Ray 2.60: finished trials without one), and
        a trial's records must say which config they belong to."""
        path = f"{self.directory}/{layout.PARAMS}"
        if self.fs.get_file_info(path).type == pafs.FileType.NotFound:
            self.fs.create_dir(self.directory, recursive=True)
            layout.write_atomic(self.fs, path, json.dumps(config))

    def final(self) -> dict[str, Any] | None:
        """The last row of a trial that finished before, or None."""
        return layout.read_json(self.fs, f"{self.directory}/{layout.FINAL}")

    def record(
        self, metrics: EpochMetrics, state: TrialState | None, result: TrialResult | None
    ) -> dict[str, Any]:
        """Append the epoch's line, save `state`, finish on `result`; returns the row."""
        row = {"trial_id": self.trial_id, **asdict(metrics), **self.where, "time": time.time()}
        if result is not None:
            row["final"] = {
                **result.summary(),
                "grad_profile_init": result.init.get("grad_profile"),
            }
        row = strict_json(row)  # one strict JSON line: readers parse it in bulk
        line = json.dumps(row, allow_nan=False)
        layout.append_line(self.fs, f"{self.directory}/{layout.EPOCHS}", line)
        if state is not None:
            self._save_state(state)
        if result is not None:
            layout.write_atomic(self.fs, f"{self.directory}/{layout.FINAL}", line)
            self._clear_states()  # a finished trial needs no state: disk use stays small
        return row

    # Saved states: each save is a new `state-NNNNNN/` directory whose `state.json` is
    # written last, so a save cut short is never loaded; older ones are deleted after a save.
    # Tune's own checkpoints are not used: its experiment state can lag behind and point at
    # a checkpoint that `num_to_keep` has already deleted, and then its restore fails
    # (measured with Ray 2.60 after killing the driver: "Could not recover from checkpoint
    # as it does not exist on storage anymore").

    def _saved(self) -> list[str]:
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
            for name in ("arrays.npz", "state.json"):  # state.json last: it marks completeness
                pafs.copy_files(
                    f"{local}/{name}",
                    f"{target}/{name}",
                    source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=self.fs,
                )
        for old in self._saved():
            if old != target:
                self.fs.delete_dir(old)

    def latest_state(self) -> TrialState | None:
        """The newest complete saved state, or None."""
        for path in reversed(self._saved()):
            if self.fs.get_file_info(f"{path}/state.json").type != pafs.FileType.File:
                continue  # cut short
            with tempfile.TemporaryDirectory(prefix="gradsweep-state-") as local:
                for name in ("arrays.npz", "state.json"):
                    pafs.copy_files(
                        f"{path}/{name}",
                        f"{local}/{name}",
                        source_filesystem=self.fs,
                        destination_filesystem=pafs.LocalFileSystem(),
                    )
                return TrialState.load(local)
        return None

    def _clear_states(self) -> None:
        for path in self._saved():
            self.fs.delete_dir(path)
