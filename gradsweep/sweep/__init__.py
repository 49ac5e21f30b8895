"""Sweeps on Ray Tune: the only package in gradsweep that imports Ray.

`trainable` (a thin adapter around `run_trial`; the records are `gradsweep.trial_store`'s),
`driver` (start or join Ray, run the Tuner, the outcome), `resume` (a fresh run over what
the records say is left), `resources` (does a trial fit), `progress` (the Tune callback),
`storage` (where an experiment may live), `manifest` (what ran, with which versions).
"""

from gradsweep.sweep.driver import Plan, SweepOutcome, connect, prepare, run, start_ray
from gradsweep.sweep.manifest import nodes
from gradsweep.sweep.progress import ProgressCallback, SweepProgress
from gradsweep.sweep.resume import ResumePlan, connect_resume, prepare_resume, resume
from gradsweep.sweep.storage import check_name, check_storage_reach, resolve_storage
from gradsweep.sweep.trainable import FAULT_ENV

__all__ = [
    "FAULT_ENV",
    "Plan",
    "ProgressCallback",
    "ResumePlan",
    "SweepOutcome",
    "SweepProgress",
    "check_name",
    "check_storage_reach",
    "connect",
    "connect_resume",
    "nodes",
    "prepare",
    "prepare_resume",
    "resolve_storage",
    "resume",
    "run",
    "start_ray",
]
