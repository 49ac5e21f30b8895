"""The driver of a sweep: check a launch, start or join Ray, run the Tuner, say what happened.

`prepare` checks everything before anything is written or started; `run` creates the
experiment and waits for its trials (`gradsweep.sweep.resume` continues one). Trial
directories are named from their config (`layout.trial_dirname`), never by Tune's trial
id. Ray's and Tune's driver messages go to the experiment's `driver.log`, not the terminal.
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
from ray import tune

from gradsweep import layout
from gradsweep.config import estimate_memory_bytes
from gradsweep.errors import ConfigError
from gradsweep.frontier_search import FrontierSearch
from gradsweep.spec import FrontierPlan, Grid, SweepSpec
from gradsweep.storage_io import filesystem, write_atomic
from gradsweep.sweep.manifest import manifest, nodes
from gradsweep.sweep.progress import ProgressCallback, SweepProgress
from gradsweep.sweep.resources import check_fits_cluster, check_fits_here, per_trial
from gradsweep.sweep.searcher import FrontierSearcher
from gradsweep.sweep.storage import check_name, check_storage_reach, resolve_storage
from gradsweep.sweep.tensorboard import HParamsLogger, text_fields
from gradsweep.sweep.trainable import FAULT_ENV, WORKER_ENV, trainable_for
from gradsweep.trial_store import scan_records

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
    swept: tuple[str, ...] = ()  # the fields that name trial directories

    def dirname(self, config: dict[str, Any]) -> str:
        """The directory of the trial running `config`."""
        return layout.trial_dirname(config, self.swept)


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
    cpus, gpus = per_trial(
        cpus_per_trial, gpus_per_trial, spec.resources.cpus_per_trial, spec.resources.gpus_per_trial
    )
    memory = max(estimate_memory_bytes(t) for t in grid.trials)
    if address is None:
        check_fits_here(cpus, gpus, memory, yes)
    configs = trial_configs(grid, cpus)
    return Plan(
        spec, grid, name, storage, experiment, configs, cpus, gpus, address, max_concurrent,
        frontier=spec.frontier_plan(), memory=memory, yes=yes, tensorboard=tensorboard,
        swept=layout.swept_fields(configs),
    )  # fmt: skip


def trial_configs(grid: Grid, cpus: float) -> list[dict[str, Any]]:
    """The configs handed to Tune: the grid's, with TensorFlow's threads set to the CPU
    share. Two that are one config would share a trial directory: refused."""
    threads = max(1, int(cpus))
    configs = [{**t.model_dump(), "threads": threads} for t in grid.trials]
    keys = [layout.config_key(c) for c in configs]
    if len(set(keys)) < len(keys):
        raise ConfigError(
            "axes: two grid points are the same config; each must differ in some field",
            "axes",
        )
    return configs


def connect(plan: Plan) -> None:
    """Start or join Ray (once) and check what needs it: that a node can hold a trial and
    that the storage is one every node reaches. Writes nothing."""
    if ray.is_initialized():
        return
    start_ray(plan.address)
    if plan.address is not None:
        check_fits_cluster(plan.cpus, plan.gpus, plan.memory, plan.yes)
    check_storage_reach(plan.storage)


def run(plan: Plan, on_progress: OnProgress = None) -> SweepOutcome:
    """Create the experiment, start or join Ray, run every trial and wait for them."""
    connect(plan)
    fs, path = filesystem(plan.experiment)
    fs.create_dir(path, recursive=True)
    try:
        resources = {"cpus_per_trial": plan.cpus, "gpus_per_trial": plan.gpus}
        info = manifest(plan.spec, plan.grid, resources)
        info |= {"nodes": nodes(), "layout": layout.LAYOUT_VERSION, "swept": list(plan.swept)}
        info["tensorboard"] = plan.tensorboard
        write_atomic(fs, f"{path}/{layout.MANIFEST}", json.dumps(info, indent=2))
        tuner = tuner_for(plan, on_progress)
    except BaseException:
        fs.delete_dir(path)  # nothing ran: leave nothing half-made behind
        raise
    return fit(tuner, plan)


def fit(tuner: tune.Tuner, plan: Plan) -> SweepOutcome:
    """Run the Tuner with the driver's messages in `driver.log`; what the records say."""
    with DriverLog(plan.experiment):
        results = tuner.fit()
    grid = len(plan.grid.trials) if plan.frontier is not None else None
    return _outcome(results, plan.experiment, len(plan.grid.trials), grid)


def tuner_for(
    plan: Plan,
    on_progress: OnProgress,
    search: FrontierSearch | None = None,
    progress: tuple[int, int] | None = None,
) -> tune.Tuner:
    """A fresh Tuner over `plan.configs` (a grid) or a frontier walk (`search`, by default
    a new one over them); `progress` is (total, done before) when resuming."""
    at_most = None
    if plan.frontier is None:
        space, searching = {"trial": tune.grid_search(plan.configs)}, {}
    else:
        search = search or plan.frontier.search(plan.configs)
        searcher = FrontierSearcher(search, plan.experiment, plan.dirname)
        space, searching = {}, {"search_alg": searcher, "num_samples": len(plan.configs)}
        at_most = search.at_most
    total, done_before = progress or (len(plan.configs), 0)
    swept = plan.swept
    return tune.Tuner(
        trainable_for(plan.experiment, plan.cpus, plan.gpus),
        param_space=space,
        tune_config=tune.TuneConfig(
            **searching,
            max_concurrent_trials=plan.max_concurrent,
            reuse_actors=True,
            trial_dirname_creator=lambda trial: layout.trial_dirname(trial.config["trial"], swept),
            trial_name_creator=lambda trial: trial.trial_id,
        ),
        run_config=tune.RunConfig(
            name=plan.name,
            storage_path=plan.storage,
            failure_config=tune.FailureConfig(max_failures=plan.spec.max_failures),
            callbacks=[
                ProgressCallback(total, on_progress, at_most, done_before),
                *_loggers(plan),
            ],
            verbose=0,
        ),
    )


def _loggers(plan: Plan) -> list:
    """Tune's default loggers (JSON, CSV, TensorBoard) unless event files are turned off:
    Tune's only switch drops all three, so JSON and CSV are then asked for by name (Tune's
    own ExperimentAnalysis reads them; gradsweep's readers need none of them). The
    TensorBoard logger is gradsweep's `HParamsLogger` (Tune adds its own only when no
    TBXLoggerCallback is given), so that HParams show every field of every trial."""
    if plan.tensorboard:
        return [HParamsLogger(text_fields(plan.configs))]
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


def _outcome(results, experiment: str, total: int, grid: int | None = None) -> SweepOutcome:
    """Counts from the trials' records with the one status rule (`trial_status`): after an
    interruption the ResultGrid counts unfinished trials as terminated (measured with Ray
    2.60), and Tune's saved state lags the records by seconds and knows one run only."""
    error_files, workers = {}, set()
    for result in results:
        metrics = result.metrics or {}
        if result.error is not None:
            error_files[Path(result.path).name] = f"{result.path}/{layout.ERROR}"
        elif "pid" in metrics:
            workers.add((metrics.get("node"), metrics["pid"]))
    records = scan_records(experiment)
    if grid is not None:  # a frontier search: what ran is the total
        total = len(records)
    terminated = sum(r.status == "TERMINATED" for r in records.values())
    failed = [
        (name, error_files.get(name, layout.join(experiment, name, layout.ERROR)))
        for name, r in records.items()
        if r.status == "ERROR"
    ]
    return SweepOutcome(
        path=experiment,
        total=total,
        terminated=terminated,
        diverged=sum(r.diverged for r in records.values()),
        failed=failed,
        workers=len(workers),
        interrupted=terminated + len(failed) < total,
        grid=grid,
    )
