"""Continue a sweep from gradsweep's own records, wherever its directory now is.

`prepare_resume` reads the manifest (the spec, the resources, the fields that name trial
directories) and every trial directory's records (`trial_store.scan_records`): which
configs exist, which finished, which have a saved state. `resume` then runs a fresh Tune
run over the same experiment directory: a grid gets the configs that have not finished, a
frontier search a walk rebuilt from the finished trials' outcomes. Every trial directory is
named from its config, so a config that runs again finds its own directory and continues
from its saved state, and a finished one is never launched. Tune's saved state is never
restored (`Tuner.restore` would unpickle `tuner.pkl`, and it remembers the launch-time
path); nothing in the experiment directory is unpickled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from gradsweep import layout
from gradsweep.config import estimate_memory_bytes
from gradsweep.errors import ConfigError
from gradsweep.frontier_search import FrontierSearch
from gradsweep.spec import SweepSpec
from gradsweep.storage_io import filesystem, read_json, storage_error
from gradsweep.sweep.driver import (
    OnProgress,
    Plan,
    SweepOutcome,
    connect,
    fit,
    trial_configs,
    tuner_for,
)
from gradsweep.sweep.resources import check_fits_here, per_trial
from gradsweep.trial_store import TrialRecord, scan_records


@dataclass
class ResumePlan:
    """A checked resume: the fresh run over what is left, and what the records say."""

    plan: Plan  # its `configs` are the grid's unfinished ones (a search: the whole grid)
    total: int  # a grid: its size; a frontier search: the trials that exist so far
    finished: int  # trials whose status (`trial_status`) is TERMINATED: what `status` says
    search: FrontierSearch | None = None  # a frontier walk rebuilt from the records

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def experiment(self) -> str:
        return self.plan.experiment

    @property
    def nothing_to_do(self) -> bool:
        if self.search is not None:
            return self.search.finished
        return not self.plan.configs


def prepare_resume(
    experiment: str,
    address: str | None = None,
    *,
    cpus_per_trial: float | None = None,
    gpus_per_trial: float | None = None,
    max_concurrent: int | None = None,
    yes: bool = False,
) -> ResumePlan:
    """Read the manifest and the records, decide what is left, check that a trial fits
    (as `launch` does); write nothing, start nothing."""
    info = _manifest(experiment)
    spec = _spec(info, experiment)
    resources = info.get("resources") or {}
    cpus, gpus = per_trial(
        cpus_per_trial,
        gpus_per_trial,
        float(resources.get("cpus_per_trial", 1)),
        float(resources.get("gpus_per_trial", 0)),
    )
    grid = spec.expand()
    configs = trial_configs(grid, cpus)
    try:
        records = scan_records(experiment)
    except OSError as err:
        raise storage_error(experiment, err) from None
    storage, name = layout.split(experiment)
    plan = Plan(
        spec, grid, name, storage, experiment, configs, cpus, gpus, address, max_concurrent,
        frontier=spec.frontier_plan(), yes=yes, tensorboard=bool(info.get("tensorboard", True)),
        swept=tuple(info.get("swept") or ()),
    )  # fmt: skip
    finished = sum(r.status == "TERMINATED" for r in records.values())
    if plan.frontier is None:
        done = {layout.config_key(r.config) for r in records.values() if r.status == "TERMINATED"}
        todo = [layout.config_key(c) not in done for c in configs]
        plan.configs = [c for c, keep in zip(configs, todo, strict=True) if keep]
        left = [t for t, keep in zip(grid.trials, todo, strict=True) if keep]
        resumed = ResumePlan(plan, len(configs), finished)
    else:
        search = rebuild(plan.frontier.search(configs), configs, records.values())
        left, resumed = grid.trials, ResumePlan(plan, len(records), finished, search)
    plan.memory = max((estimate_memory_bytes(t) for t in left), default=0.0)
    if address is None and not resumed.nothing_to_do:
        check_fits_here(cpus, gpus, plan.memory, yes)
    return resumed


def rebuild(
    search: FrontierSearch, configs: list[dict[str, Any]], records: Iterable[TrialRecord]
) -> FrontierSearch:
    """A frontier walk brought up to the finished trials' outcomes. A record's config is
    matched to the grid's by `layout.config_key`, which leaves out how a trial ran
    (threads), so a resume with other resources still recognises every trial."""
    by_key = {layout.config_key(c): c for c in configs}
    for record in records:
        config = by_key.get(layout.config_key(record.config))
        if config is not None and record.status == "TERMINATED":
            search.record(config, record.solved)
        elif config is not None and record.status == "ERROR":
            search.record(config, False)  # failed after its retries: did not solve
    return search


def connect_resume(resumed: ResumePlan) -> None:
    """Start or join Ray (once) and check what needs it, exactly as `launch` does."""
    connect(resumed.plan)


def resume(resumed: ResumePlan, on_progress: OnProgress = None) -> SweepOutcome:
    """Run what is left as a fresh Tune run over the same experiment directory."""
    connect_resume(resumed)
    plan = resumed.plan
    progress = (resumed.total, resumed.finished)
    return fit(tuner_for(plan, on_progress, resumed.search, progress), plan)


def _manifest(experiment: str) -> dict[str, Any]:
    """The manifest of an experiment that this gradsweep can resume, or one line why not."""
    try:
        fs, root = filesystem(experiment)
        info = read_json(fs, f"{root}/{layout.MANIFEST}")
    except OSError as err:
        raise storage_error(experiment, err) from None
    if info is None:
        raise ConfigError(
            f"experiment: {experiment!r} is not a gradsweep experiment that can be resumed "
            f"(no {layout.MANIFEST})",
            "experiment",
        )
    if int(info.get("layout") or 1) < layout.LAYOUT_VERSION:
        raise ConfigError(
            f"experiment: {experiment!r} predates trial directories named by config (an "
            "earlier gradsweep wrote it); it can be read (results, report, status) but not "
            "resumed",
            "experiment",
        )
    return info


def _spec(info: dict[str, Any], experiment: str) -> SweepSpec:
    try:
        return SweepSpec.model_validate(info.get("spec") or {})
    except (ValidationError, ConfigError) as err:
        first = str(err).strip().splitlines()[0]
        raise ConfigError(
            f"experiment: {experiment!r} has a manifest whose spec this gradsweep cannot "
            f"read ({first})",
            "experiment",
        ) from None
