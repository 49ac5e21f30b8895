"""The Tune trainable: config in, `run_trial`, every epoch reported and recorded.

A trial keeps its own records in its directory through `gradsweep.trial_store.TrialStore`:
one line per epoch, its newest state, and `final.json` once finished. This module is the
Ray edge: it tells the store where the trial runs (node, process, granted resources). A
trial that finds its `final.json` has finished before (Tune's experiment state can lag
behind by a few seconds when the driver dies): it reports that row again and returns, so
no trial trains twice.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import ray
from ray import tune

from gradsweep.config import TrialConfig
from gradsweep.train import run_trial
from gradsweep.trial_store import TrialStore

# Test hook: a trial whose config matches `field=value` raises before training. Read here,
# in the sweep layer, and passed to workers through Ray's runtime environment.
FAULT_ENV = "GRADSWEEP_FAULT_RAISE"
# Environment for trial workers: TensorFlow's C++ chatter stays out of the logs' way.
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore::DeprecationWarning"}


def trainable(config: dict[str, Any], experiment: str) -> None:
    """One Tune trial: `run_trial` with per-epoch reports and saved states."""
    _quiet_worker()
    cfg = TrialConfig(**config["trial"])
    store = TrialStore(experiment, _directory(), _where())
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


def _directory() -> str:
    """The trial directory's name, as Tune's `trial_dirname_creator` made it."""
    return os.path.basename(tune.get_context().get_trial_dir().rstrip("/"))


def _where() -> dict[str, Any]:
    """Where this trial runs, stamped on its records: Ray node id, process, and the
    resources Ray granted it."""
    context = ray.get_runtime_context()
    return {
        "node": context.get_node_id(),
        "pid": os.getpid(),
        "resources": context.get_assigned_resources(),
    }


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
