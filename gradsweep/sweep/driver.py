"""The driver of a sweep: check a launch, start or join Ray, run the Tuner, say what happened.

`prepare` and `prepare_resume` check everything before anything is written or started;
`run` and `resume` create the experiment and wait for its trials. Ray's and Tune's driver
messages go to the experiment's `driver.log`, not the terminal.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import ray
from pydantic import ValidationError
from ray import tune

from gradsweep import layout
from gradsweep.config import estimate_memory_bytes
from gradsweep.errors import ConfigError
from gradsweep.frontier_search import FrontierSearch
from gradsweep.spec import FrontierPlan, Grid, SweepSpec
from gradsweep.storage_io import filesystem, read_json, write_atomic
from gradsweep.sweep.manifest import manifest, nodes
from gradsweep.sweep.progress import ProgressCallback, SweepProgress
from gradsweep.sweep.searcher import FrontierSearcher
from gradsweep.sweep.storage import check_name, check_storage_reach, resolve_storage
from gradsweep.sweep.trainable import FAULT_ENV, WORKER_ENV, trainable_for
from gradsweep.tune_state import read_statuses

OnProgress = Callable[[SweepProgress], None] | None


@dataclass
class SweepOutcome:
    """What a finished `launch` or `resume` left behind."""

    path: str
    total: int
    terminated: int
    diverged: int
    failed: list[tuple[str, str]]  # (trial id, error file)
    workers: int  # distinct worker processes that ran trials
    interrupted: bool = False  # stopped (Ctrl-C) before every trial ended
    grid: int | None = None  # a frontier search: the grid's size, of which `total` ran


def start_ray(address: str | None, num_cpus: int | None = None) -> None:
    """Join a cluster at `address`, or start an embedded Ray on this machine."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Tune's new console output prints tables whatever `verbose` says; the legacy reporter
    # honours verbose=0, and the CLI draws its own progress bar.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    env = dict(WORKER_ENV)
    if os.environ.get(FAULT_ENV):
        env[FAULT_ENV] = os.environ[FAULT_ENV]
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        ray.init(
            num_cpus=num_cpus, include_dashboard=False, runtime_env={"env_vars": env}, **options
        )
    else:
        # No runtime_env here: it would replace a submitted job's (its working_dir, which
        # carries the code to the workers); the trainable quiets TensorFlow itself.
        try:
            ray.init(address=address, **options)
        except ConnectionError as err:
            # Ray 2.60 names a missing token only in its log; the exception says "Failed to
            # connect", so the likely causes are named here.
            reason = str(err).strip().splitlines()[0] if str(err).strip() else "no answer"
            raise ConfigError(
                f"--address: could not connect to the Ray cluster at {address} ({reason}); "
                "check the address, and if the cluster uses token authentication set "
                "RAY_AUTH_MODE=token with RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH)",
                "address",
            ) from None


@dataclass
class Plan:
    """A checked launch: everything `run` needs, found valid before anything is written."""

    spec: SweepSpec
    grid: Grid
    name: str
    storage: str
    experiment: str  # as every node reaches it: a local path or a storage URI
    configs: list[dict[str, Any]]
    cpus: float
    gpus: float
    address: str | None = None
    max_concurrent: int | None = None
    frontier: FrontierPlan | None = None  # a frontier search instead of the whole grid
    memory: float = 0.0  # the largest trial's estimated bytes
    yes: bool = False  # run even where a trial seems not to fit (an autoscaler may help)
    tensorboard: bool = True  # Tune's TensorBoard event files in every trial directory


def prepare(
    spec: SweepSpec,
    *,
    name: str | None = None,
    storage: str = "results",
    address: str | None = None,
    cpus_per_trial: float | None = None,
    gpus_per_trial: float | None = None,
    max_concurrent: int | None = None,
    yes: bool = False,
    tensorboard: bool = True,
) -> Plan:
    """Check grid size, name, storage and resources; write nothing, start nothing."""
    grid = spec.expand()
    if len(grid.trials) > spec.max_trials and not yes:
        raise ConfigError(
            f"max_trials: the grid has {len(grid.trials)} trials, more than max_trials "
            f"({spec.max_trials}); pass --yes to run it anyway",
            "max_trials",
        )
    name = check_name(name or spec.name)
    storage = resolve_storage(storage)
    experiment = layout.join(storage, name)
    fs, path = filesystem(experiment)
    exists = fs.get_file_info(path).type != pafs.FileType.NotFound
    if exists or (not layout.is_uri(storage) and os.path.lexists(path)):  # dangling links too
        raise ConfigError(
            f"--name: an experiment {name!r} already exists in {storage}; continue it with "
            f"`gradsweep resume {name}` or choose another name",
            "name",
        )
    cpus = cpus_per_trial if cpus_per_trial is not None else spec.resources.cpus_per_trial
    gpus = gpus_per_trial if gpus_per_trial is not None else spec.resources.gpus_per_trial
    if cpus <= 0:
        raise ConfigError(f"--cpus-per-trial: {cpus} is not allowed: must be > 0", "cpus")
    if gpus < 0:
        raise ConfigError(f"--gpus-per-trial: {gpus} is not allowed: must be >= 0", "gpus")
    memory = max(estimate_memory_bytes(t) for t in grid.trials)
    if address is None:
        _check_fits_here(cpus, gpus, memory, yes)
    threads = max(1, int(cpus))
    configs = [{**t.model_dump(), "threads": threads} for t in grid.trials]
    return Plan(
        spec, grid, name, storage, experiment, configs, cpus, gpus, address, max_concurrent,
        frontier=spec.frontier_plan(), memory=memory, yes=yes, tensorboard=tensorboard,
    )  # fmt: skip


def _machine() -> tuple[int, int, float]:
    """This machine's CPUs, GPUs (as Ray would count them) and memory in bytes."""
    from ray._private.accelerators import NvidiaGPUAcceleratorManager

    gpus = NvidiaGPUAcceleratorManager.get_current_node_num_accelerators()
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return os.cpu_count() or 1, gpus, float(memory)


def _check_fits_here(cpus: float, gpus: float, memory: float, yes: bool) -> None:
    """On the embedded Ray, a trial that this machine cannot hold is refused before Ray
    starts: Ray would keep it pending forever without a word."""
    have_cpus, have_gpus, have_memory = _machine()
    if cpus > have_cpus:
        raise ConfigError(
            f"--cpus-per-trial: {cpus:g} is not allowed: this machine has {have_cpus} CPU(s)",
            "cpus",
        )
    if gpus > have_gpus:
        raise ConfigError(
            f"--gpus-per-trial: {gpus:g} is not allowed: this machine has {have_gpus} GPU(s) "
            "that Ray can use",
            "gpus",
        )
    if memory > have_memory and not yes:
        raise ConfigError(
            f"memory: a trial may need about {memory / 2**30:.1f} GiB, more than this "
            f"machine's {have_memory / 2**30:.1f} GiB; make the sizes smaller or pass --yes",
            "memory",
        )


def _check_fits_cluster(plan: Plan) -> None:
    """On a cluster, say within seconds when no live node can hold one trial (Ray would
    wait forever); an autoscaler may still add one, which `--yes` says to wait for."""
    alive = nodes()
    fits = [
        n
        for n in alive
        if n["resources"].get("CPU", 0) >= plan.cpus
        and n["resources"].get("GPU", 0) >= plan.gpus
        and n["resources"].get("memory", float("inf")) >= plan.memory
    ]
    if fits or plan.yes:
        return
    largest = max(alive, key=lambda n: n["resources"].get("CPU", 0), default=None)
    shown = {k: largest["resources"].get(k, 0) for k in ("CPU", "GPU")} if largest else {}
    raise ConfigError(
        f"resources: no live node can hold a trial ({plan.cpus:g} CPU, {plan.gpus:g} GPU, "
        f"~{plan.memory / 2**30:.1f} GiB; the largest has {shown}); pass --yes to wait for "
        "an autoscaler to add one",
        "resources",
    )


def connect(plan: Plan) -> None:
    """Start or join Ray (once) and check what needs it: that a node can hold a trial and
    that the storage is one every node reaches. Writes nothing."""
    if ray.is_initialized():
        return
    start_ray(plan.address)
    if plan.address is not None:
        _check_fits_cluster(plan)
    check_storage_reach(plan.storage)


def run(plan: Plan, on_progress: OnProgress = None) -> SweepOutcome:
    """Create the experiment, start or join Ray, run every trial and wait for them."""
    connect(plan)
    fs, path = filesystem(plan.experiment)
    fs.create_dir(path, recursive=True)
    try:
        resources = {"cpus_per_trial": plan.cpus, "gpus_per_trial": plan.gpus}
        info = manifest(plan.spec, plan.grid, resources)
        info["nodes"] = nodes()
        write_atomic(fs, f"{path}/{layout.MANIFEST}", json.dumps(info, indent=2))
        tuner = _tuner(plan, on_progress)
    except BaseException:
        fs.delete_dir(path)  # nothing ran: leave nothing half-made behind
        raise
    with DriverLog(plan.experiment):
        results = tuner.fit()
    grid = len(plan.configs) if plan.frontier is not None else None
    return _outcome(results, plan.experiment, len(plan.configs), grid)


def _tuner(plan: Plan, on_progress: OnProgress) -> tune.Tuner:
    at_most = None
    if plan.frontier is None:
        space, searching = {"trial": tune.grid_search(plan.configs)}, {}
    else:
        searcher = FrontierSearcher(plan.frontier.search(plan.configs), plan.experiment)
        space, searching = {}, {"search_alg": searcher, "num_samples": len(plan.configs)}
        at_most = searcher.search.at_most
    return tune.Tuner(
        trainable_for(plan.experiment, plan.cpus, plan.gpus),
        param_space=space,
        tune_config=tune.TuneConfig(
            **searching,
            max_concurrent_trials=plan.max_concurrent,
            reuse_actors=True,
            trial_dirname_creator=lambda trial: trial.trial_id,
            trial_name_creator=lambda trial: trial.trial_id,
        ),
        run_config=tune.RunConfig(
            name=plan.name,
            storage_path=plan.storage,
            failure_config=tune.FailureConfig(max_failures=plan.spec.max_failures),
            callbacks=[
                ProgressCallback(len(plan.configs), on_progress, at_most),
                *_loggers(plan),
            ],
            verbose=0,
        ),
    )


def _loggers(plan: Plan) -> list:
    """Tune's default loggers (JSON, CSV, TensorBoard) unless event files are turned off:
    Tune's only switch drops all three, so JSON and CSV are then asked for by name (Tune's
    own ExperimentAnalysis reads them; gradsweep's readers need none of them)."""
    if plan.tensorboard:
        return []
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    return [JsonLoggerCallback(), CSVLoggerCallback()]


class DriverLog:
    """Ray's and Tune's driver messages go to <experiment>/driver.log, not the terminal."""

    def __init__(self, experiment: str):
        self.path = None if layout.is_uri(experiment) else f"{experiment}/{layout.DRIVER_LOG}"
        self.handler: logging.Handler | None = None
        self.silenced: list[tuple[logging.Handler, int]] = []

    def __enter__(self):
        ray_logger = logging.getLogger("ray")
        for handler in ray_logger.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler
            ):
                self.silenced.append((handler, handler.level))
                handler.setLevel(logging.CRITICAL + 1)
        if self.path is not None:
            self.handler = logging.FileHandler(self.path)
            self.handler.setFormatter(
                logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
            )
            ray_logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc) -> None:
        for handler, level in self.silenced:
            handler.setLevel(level)
        if self.handler is not None:
            logging.getLogger("ray").removeHandler(self.handler)
            self.handler.close()


@dataclass
class ResumePlan:
    """A checked resume: the experiment, what it holds, what is left to do."""

    experiment: str
    name: str
    total: int
    finished: int
    cpus: float
    gpus: float
    address: str | None = None
    searching: bool = False  # a frontier search: `total` is what ran so far
    search_done: bool = True  # a frontier search whose walk has ended

    @property
    def nothing_to_do(self) -> bool:
        return self.finished >= self.total and self.search_done


def prepare_resume(experiment: str, address: str | None = None) -> ResumePlan:
    """Check that `experiment` is a gradsweep experiment Tune can restore; start nothing."""
    fs, root = filesystem(experiment)
    info = read_json(fs, f"{root}/{layout.MANIFEST}")
    tuner_state = fs.get_file_info(f"{root}/{layout.TUNER_STATE}")
    if info is None or tuner_state.type == pafs.FileType.NotFound:
        raise ConfigError(
            f"experiment: {experiment!r} is not a gradsweep experiment that can be resumed "
            f"(no {layout.MANIFEST} or Tune state)",
            "experiment",
        )
    statuses = read_statuses(fs, root)
    finished = sum(1 for status in statuses.values() if status == "TERMINATED")
    resources = info.get("resources", {})
    search = _recorded_search(info, experiment)
    return ResumePlan(
        experiment=experiment,
        name=layout.name_of(experiment),
        total=len(statuses) if search else int(info.get("trials", len(statuses))),
        finished=finished,
        cpus=float(resources.get("cpus_per_trial", 1)),
        gpus=float(resources.get("gpus_per_trial", 0)),
        address=address,
        searching=search is not None,
        search_done=search is None or search.finished,
    )


def _recorded_search(info: dict[str, Any], experiment: str) -> FrontierSearch | None:
    """A frontier search's walk as the experiment's records leave it (None for a grid)."""
    try:
        spec = SweepSpec.model_validate(info.get("spec") or {})
        plan = spec.frontier_plan()
    except (ValidationError, ConfigError):  # a manifest from elsewhere: resumed as a grid
        return None
    if plan is None:
        return None
    threads = max(1, int(float(info.get("resources", {}).get("cpus_per_trial", 1))))
    configs = [{**t.model_dump(), "threads": threads} for t in spec.expand().trials]
    searcher = FrontierSearcher(plan.search(configs), experiment)
    searcher.sync_with_records(set_aside=False)
    return searcher.search


def resume(plan: ResumePlan, on_progress: OnProgress = None) -> SweepOutcome:
    """Continue an interrupted sweep: finished trials are kept, unfinished ones continue from
    their last saved state, errored ones are retried from theirs."""
    if not ray.is_initialized():
        start_ray(plan.address)
    tuner = tune.Tuner.restore(
        plan.experiment,
        trainable=trainable_for(plan.experiment, plan.cpus, plan.gpus),
        resume_unfinished=True,
        resume_errored=True,
    )
    fs, root = filesystem(plan.experiment)
    done = {t for t, status in read_statuses(fs, root).items() if status == "TERMINATED"}
    # Tune restores the callbacks pickled with the experiment; the renderer is not among
    # them (see ProgressCallback.__getstate__), so this run's is attached again.
    searcher = tuner._local_tuner._tune_config.search_alg
    while searcher is not None and not isinstance(searcher, FrontierSearcher):
        searcher = getattr(searcher, "searcher", None)
    if searcher is not None:
        # Tune restores the searcher's saved state only if it saved one; either way the
        # walk is brought up to the trials' own records before anything is suggested.
        searcher.sync_with_records()
    at_most = searcher.search.at_most if searcher is not None else None
    for callback in tuner._local_tuner.get_run_config().callbacks or []:
        if isinstance(callback, ProgressCallback):
            callback.restart(on_progress, done, at_most)
    with DriverLog(plan.experiment):
        results = tuner.fit()
    if plan.searching:
        return _outcome(results, plan.experiment, len(results), _grid_size(plan.experiment))
    return _outcome(results, plan.experiment, plan.total)


def _grid_size(experiment: str) -> int | None:
    fs, root = filesystem(experiment)
    return (read_json(fs, f"{root}/{layout.MANIFEST}") or {}).get("trials")


def _outcome(results, experiment: str, total: int, grid: int | None = None) -> SweepOutcome:
    """Counts from Tune's saved experiment state: after an interruption the ResultGrid
    counts unfinished trials as terminated (measured with Ray 2.60), the saved state does not."""
    failed, diverged, workers = [], 0, set()
    for result in results:
        metrics = result.metrics or {}
        if result.error is not None:
            failed.append((Path(result.path).name, f"{result.path}/{layout.ERROR}"))
            continue
        diverged += bool((metrics.get("final") or {}).get("diverged"))
        if "pid" in metrics:
            workers.add((metrics.get("node"), metrics["pid"]))
    fs, root = filesystem(experiment)
    statuses = read_statuses(fs, root)
    if grid is not None:  # a frontier search: what ran is the total
        total = len(statuses)
    terminated = sum(1 for status in statuses.values() if status == "TERMINATED")
    errored = {t for t, status in statuses.items() if status == "ERROR"}
    failed = [(t, f) for t, f in failed if t in errored]
    return SweepOutcome(
        path=experiment,
        total=total,
        terminated=terminated,
        diverged=diverged,
        failed=failed,
        workers=len(workers),
        interrupted=terminated + len(failed) < total,
        grid=grid,
    )
