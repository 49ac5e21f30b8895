"""Run a sweep's grid as Ray Tune trials: the only module that imports Ray.

The trainable is a thin adapter around `run_trial`: it reports every epoch with
`tune.report`, saves the state `run_trial` hands out in the trial's directory, and continues
from it when Tune retries or resumes the trial; a finished trial writes `final.json` and is
never trained again. A Tune callback turns trial events into `SweepProgress` snapshots for
whoever renders them.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import ray
from ray import tune

from gradsweep import __version__
from gradsweep.errors import ConfigError
from gradsweep.results import EPOCHS, MANIFEST, statuses_of
from gradsweep.spec import NAME_PATTERN, Grid, SweepSpec
from gradsweep.train import TrialConfig, TrialState, run_trial, strict_json

# Test hook: a trial whose config matches `field=value` raises before training. Read here,
# in the sweep layer, and passed to workers through Ray's runtime environment.
FAULT_ENV = "GRADSWEEP_FAULT_RAISE"
# Environment for trial workers: TensorFlow's C++ chatter stays out of the logs' way.
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore::DeprecationWarning"}


@dataclass
class SweepProgress:
    """Counts by state and the best validation accuracy so far."""

    total: int
    done: int = 0
    running: int = 0
    failed: int = 0
    best_val_acc: float | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def pending(self) -> int:
        return max(0, self.total - self.done - self.running - self.failed)


@dataclass
class SweepOutcome:
    """What a finished `launch` left behind."""

    path: str
    total: int
    terminated: int
    diverged: int
    failed: list[tuple[str, str]]  # (trial id, error file)
    workers: int  # distinct worker processes that ran trials
    interrupted: bool = False  # stopped (Ctrl-C) before every trial ended


FINAL = "final.json"


def _trainable(config: dict[str, Any], experiment: str) -> None:
    """One Tune trial: run_trial with per-epoch reports and saved states.

    A trial whose `final.json` exists has finished before (Tune's experiment state can lag
    behind by a few seconds when the driver dies): it reports that row again and returns,
    so a finished trial is never trained twice.
    """
    for key, value in WORKER_ENV.items():  # before the first trial imports TensorFlow
        os.environ.setdefault(key, value)
    # Every trial builds a new model and traces new functions; TensorFlow's warning about
    # retracing is expected here, not a sign of waste.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    cfg = TrialConfig(**config["trial"])
    trial_id = tune.get_context().get_trial_id()
    fs, root = _filesystem(experiment)
    final_path = f"{root}/{trial_id}/{FINAL}"
    finished = _read_json(fs, final_path)
    if finished is not None:
        tune.report(finished)
        return
    fault = os.environ.get(FAULT_ENV)
    if fault:
        key, _, value = fault.partition("=")
        if str(getattr(cfg, key, None)) == value:
            raise RuntimeError(f"fault injected by {FAULT_ENV}={fault}")
    states = _TrialStates(fs, f"{root}/{trial_id}")
    context = ray.get_runtime_context()
    where = {
        "node": context.get_node_id(),
        "pid": os.getpid(),
        "resources": context.get_assigned_resources(),  # what Ray granted this trial
    }

    def report(metrics, snapshot, result) -> None:
        row = {"trial_id": trial_id, **asdict(metrics), **where, "time": time.time()}
        if result is not None:
            row["final"] = {
                **result.summary(),
                "grad_profile_init": result.init.get("grad_profile"),
            }
        row = strict_json(row)  # one strict JSON line: readers parse it in bulk
        line = json.dumps(row, allow_nan=False)
        _append_line(fs, f"{root}/{trial_id}/{EPOCHS}", line)
        if snapshot is not None:
            states.save(snapshot)
        if result is not None:
            _write_atomic(fs, final_path, line)
            states.clear()  # a finished trial needs no state: disk use stays small
        tune.report(row)

    run_trial(cfg, on_epoch=report, state=states.latest())


class _TrialStates:
    """A trial's saved states in its directory on the experiment's storage.

    Each save is a new `state-NNNNNN/` directory whose `state.json` is written last, so a
    save cut short is never loaded; older ones are deleted after a save. Tune's own
    checkpoints are not used: its experiment state can lag behind and point at a checkpoint
    that `num_to_keep` has already deleted, and then its restore fails (measured with Ray
    2.60 after killing the driver: "Could not recover from checkpoint as it does not exist
    on storage anymore").
    """

    def __init__(self, fs: pafs.FileSystem, directory: str):
        self.fs, self.directory = fs, directory

    def _saved(self) -> list[str]:
        selector = pafs.FileSelector(self.directory, allow_not_found=True)
        found = [i for i in self.fs.get_file_info(selector) if i.base_name.startswith("state-")]
        return sorted(i.path for i in found if i.type == pafs.FileType.Directory)

    def save(self, state: TrialState) -> None:
        target = f"{self.directory}/state-{state.epoch:06d}"
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

    def latest(self) -> TrialState | None:
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

    def clear(self) -> None:
        for path in self._saved():
            self.fs.delete_dir(path)


def _append_line(fs: pafs.FileSystem, path: str, line: str) -> None:
    """Append one line; object stores cannot append, so there the file is rewritten."""
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    data = (line + "\n").encode()
    try:
        with fs.open_append_stream(path) as stream:
            stream.write(data)
    except (NotImplementedError, pa.lib.ArrowNotImplementedError):
        try:
            with fs.open_input_stream(path) as stream:
                data = stream.read() + data
        except FileNotFoundError:
            pass
        _write_atomic(fs, path, data.decode())


def _read_json(fs: pafs.FileSystem, path: str) -> dict[str, Any] | None:
    try:
        with fs.open_input_stream(path) as stream:
            return json.loads(stream.read())
    except (FileNotFoundError, OSError, json.JSONDecodeError):
        return None


def _trainable_for(experiment: str, cpus: float, gpus: float):
    """The trainable with its experiment location and resources bound."""
    return tune.with_resources(
        tune.with_parameters(_trainable, experiment=experiment), {"cpu": cpus, "gpu": gpus}
    )


class _Progress(tune.Callback):
    """Tune callback: progress snapshots to `on_progress`."""

    def __init__(self, total: int, on_progress: Callable[[SweepProgress], None] | None):
        self.progress = SweepProgress(total=total)
        self.on_progress = on_progress
        self.done: set[str] = set()
        self.running: set[str] = set()
        self.failed: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles callbacks with the experiment; the renderer stays with this driver.
        return {**self.__dict__, "on_progress": None}

    def _update(self) -> None:
        self.progress.done = len(self.done)
        self.progress.running = len(self.running)
        self.progress.failed = len(self.failed)
        if self.on_progress is not None:
            self.on_progress(self.progress)

    # Tune sets a trial's status after calling these hooks, so the trial ids are tracked here.
    def on_trial_start(self, iteration, trials, trial, **info):
        self.failed.discard(trial.trial_id)  # a retry
        self.running.add(trial.trial_id)
        self._update()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        acc = result.get("val_acc")
        if acc is not None and (self.progress.best_val_acc or 0) < acc:
            self.progress.best_val_acc = acc
        self._update()

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)
        self.done.add(trial.trial_id)
        self._update()

    def on_trial_error(self, iteration, trials, trial, **info):
        self.running.discard(trial.trial_id)
        self.failed.add(trial.trial_id)
        self._update()


def resolve_storage(storage: str) -> str:
    """An absolute local path or a URI; local paths are checked before Ray starts."""
    if "://" in storage:
        return storage
    path = Path(storage).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--storage: {str(path)!r} is not a directory", "storage")
    if not path.exists() and not path.parent.is_dir():
        raise ConfigError(
            f"--storage: {str(path)!r} is not allowed: its parent directory does not exist",
            "storage",
        )
    probe_dir = path if path.exists() else path.parent
    try:  # a real write: os.access answers yes to root even where writing fails
        with tempfile.NamedTemporaryFile(dir=probe_dir, prefix=".gradsweep-probe-"):
            pass
    except OSError as err:
        raise ConfigError(
            f"--storage: {str(probe_dir)!r} is not writable ({err.strerror})", "storage"
        ) from None
    return str(path)


def check_name(name: str) -> str:
    """A plain experiment name: letters, digits, '-', '_', '.'; no '/', no '..'."""
    if not re.fullmatch(NAME_PATTERN, name) or name in {".", ".."} or ".." in name:
        raise ConfigError(
            f"--name: {name!r} is not allowed: use letters, digits, '-', '_' and '.' "
            "(no '/', no '..')",
            "name",
        )
    return name


def _filesystem(storage: str) -> tuple[pafs.FileSystem, str]:
    if "://" in storage:
        return pafs.FileSystem.from_uri(storage)
    return pafs.LocalFileSystem(), storage


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _write_atomic(fs: pafs.FileSystem, path: str, text: str) -> None:
    """Write a whole file or nothing (a temporary name, then a rename)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with fs.open_output_stream(tmp) as stream:
        stream.write(text.encode())
    fs.move(tmp, path)


def manifest(spec: SweepSpec, grid: Grid, resources: dict[str, float]) -> dict[str, Any]:
    """What ran, with which versions: written next to the results."""
    import importlib.metadata as md

    return {
        "gradsweep": __version__,
        "versions": {p: md.version(p) for p in ("tensorflow", "keras", "ray", "numpy")},
        "python": platform.python_version(),
        "git_commit": _git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "driver_host": platform.node(),
        "spec": spec.to_dict(),
        "resources": resources,
        "trials": len(grid.trials),
        "skipped": grid.skipped,
    }


# File systems that every node of a cluster can mount (from /proc/mounts' type column).
SHARED_FILESYSTEMS = (
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "lustre",
    "gpfs",
    "ceph",
    "beegfs",
    "glusterfs",
    "fuse.s3fs",
    "fuse.gcsfuse",
    "fuse.juicefs",
    "9p",
)


def nodes() -> list[dict[str, Any]]:
    """The alive Ray nodes: id, address, hostname and resources (for the manifest)."""
    return [
        {
            "node": n["NodeID"],
            "address": n["NodeManagerAddress"],
            "hostname": n.get("NodeManagerHostname"),
            "resources": n.get("Resources", {}),
        }
        for n in ray.nodes()
        if n.get("Alive")
    ]


def filesystem_type(path: str) -> str | None:
    """The type of the file system holding `path`, from /proc/mounts (Linux)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    best, kind = "", None
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and path.startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind


def check_storage_reach(storage: str) -> None:
    """Refuse a local, unshared storage path when trials may run on other machines.

    Trials write their records into the experiment directory from wherever they run, so on
    a cluster the storage must be one that every node reaches.
    """
    if "://" in storage:
        return
    alive = nodes()
    here = ray.util.get_node_ip_address()
    elsewhere = any(n["address"] != here for n in alive)
    local = [n for n in alive if n["address"] == here]
    no_room_here = all(n["resources"].get("CPU", 0) == 0 for n in local)
    if not (elsewhere or (no_room_here and alive)):
        return  # one machine: a local path is fine
    kind = filesystem_type(storage) or "unknown"
    if kind.startswith(SHARED_FILESYSTEMS):
        return
    raise ConfigError(
        f"--storage: {storage!r} is a local path ({kind}) but trials run on other machines; "
        "use shared storage every node reaches (s3://bucket/path, gs://bucket/path, or an NFS "
        "mount at the same path on every node)",
        "storage",
    )


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
        ray.init(address=address, **options)


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
    experiment = f"{storage.rstrip('/')}/{name}"
    fs, path = _filesystem(experiment)
    exists = fs.get_file_info(path).type != pafs.FileType.NotFound
    if exists or ("://" not in storage and os.path.lexists(path)):  # dangling links too
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
    threads = max(1, int(cpus))
    configs = [{**t.model_dump(), "threads": threads} for t in grid.trials]
    return Plan(spec, grid, name, storage, experiment, configs, cpus, gpus, address, max_concurrent)


def run(plan: Plan, on_progress: Callable[[SweepProgress], None] | None = None) -> SweepOutcome:
    """Create the experiment, start or join Ray, run every trial and wait for them."""
    if not ray.is_initialized():
        start_ray(plan.address)
    check_storage_reach(plan.storage)
    fs, path = _filesystem(plan.experiment)
    fs.create_dir(path, recursive=True)
    try:
        resources = {"cpus_per_trial": plan.cpus, "gpus_per_trial": plan.gpus}
        info = manifest(plan.spec, plan.grid, resources)
        info["nodes"] = nodes()
        _write_atomic(fs, f"{path}/{MANIFEST}", json.dumps(info, indent=2))
        tuner = _tuner(plan, on_progress)
    except BaseException:
        fs.delete_dir(path)  # nothing ran: leave nothing half-made behind
        raise
    with _driver_log(plan):
        results = tuner.fit()
    return _outcome(results, plan.experiment, len(plan.configs))


class _driver_log:
    """Ray's and Tune's driver messages go to <experiment>/driver.log, not the terminal."""

    def __init__(self, plan: Plan | ResumePlan):
        self.path = plan.experiment if "://" not in plan.experiment else None
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
            self.handler = logging.FileHandler(f"{self.path}/driver.log")
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

    @property
    def nothing_to_do(self) -> bool:
        return self.finished >= self.total


def prepare_resume(experiment: str, address: str | None = None) -> ResumePlan:
    """Check that `experiment` is a gradsweep experiment Tune can restore; start nothing."""
    fs, root = _filesystem(experiment)
    info = _read_json(fs, f"{root}/{MANIFEST}")
    if info is None or fs.get_file_info(f"{root}/tuner.pkl").type == pafs.FileType.NotFound:
        raise ConfigError(
            f"experiment: {experiment!r} is not a gradsweep experiment that can be resumed "
            f"(no {MANIFEST} or Tune state)",
            "experiment",
        )
    statuses = _statuses(fs, root)
    finished = sum(1 for status in statuses.values() if status == "TERMINATED")
    resources = info.get("resources", {})
    return ResumePlan(
        experiment=experiment,
        name=experiment.rstrip("/").rsplit("/", 1)[-1],
        total=int(info.get("trials", len(statuses))),
        finished=finished,
        cpus=float(resources.get("cpus_per_trial", 1)),
        gpus=float(resources.get("gpus_per_trial", 0)),
        address=address,
    )


def _statuses(fs: pafs.FileSystem, root: str) -> dict[str, str]:
    """Trial statuses from Tune's newest experiment state (its JSON fields only)."""
    selector = pafs.FileSelector(root, allow_not_found=True)
    states = sorted(
        i.path for i in fs.get_file_info(selector) if i.base_name.startswith("experiment_state-")
    )
    data = _read_json(fs, states[-1]) if states else None
    return statuses_of(data or {})


def resume(plan: ResumePlan, on_progress=None) -> SweepOutcome:
    """Continue an interrupted sweep: finished trials are kept, unfinished ones continue from
    their last saved state, errored ones are retried from theirs."""
    if not ray.is_initialized():
        start_ray(plan.address)
    tuner = tune.Tuner.restore(
        plan.experiment,
        trainable=_trainable_for(plan.experiment, plan.cpus, plan.gpus),
        resume_unfinished=True,
        resume_errored=True,
    )
    fs, root = _filesystem(plan.experiment)
    done = {t for t, status in _statuses(fs, root).items() if status == "TERMINATED"}
    # Tune restores the callbacks pickled with the experiment; the renderer is not among
    # them (see _Progress.__getstate__), so this run's is attached again.
    for callback in tuner._local_tuner.get_run_config().callbacks or []:
        if isinstance(callback, _Progress):
            callback.on_progress = on_progress
            callback.done, callback.running, callback.failed = set(done), set(), set()
    with _driver_log(plan):
        results = tuner.fit()
    return _outcome(results, plan.experiment, plan.total)


def _tuner(plan: Plan, on_progress) -> tune.Tuner:
    return tune.Tuner(
        _trainable_for(plan.experiment, plan.cpus, plan.gpus),
        param_space={"trial": tune.grid_search(plan.configs)},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=plan.max_concurrent,
            reuse_actors=True,
            trial_dirname_creator=lambda trial: trial.trial_id,
            trial_name_creator=lambda trial: trial.trial_id,
        ),
        run_config=tune.RunConfig(
            name=plan.name,
            storage_path=plan.storage,
            failure_config=tune.FailureConfig(max_failures=plan.spec.max_failures),
            callbacks=[_Progress(len(plan.configs), on_progress)],
            verbose=0,
        ),
    )


def _outcome(results, experiment: str, total: int) -> SweepOutcome:
    """Counts from Tune's saved experiment state: after an interruption the ResultGrid
    counts unfinished trials as terminated (measured with Ray 2.60), the saved state does not."""
    failed, diverged, workers = [], 0, set()
    for result in results:
        metrics = result.metrics or {}
        if result.error is not None:
            failed.append((_trial_id(result), f"{result.path}/error.txt"))
            continue
        diverged += bool((metrics.get("final") or {}).get("diverged"))
        if "pid" in metrics:
            workers.add((metrics.get("node"), metrics["pid"]))
    fs, root = _filesystem(experiment)
    statuses = _statuses(fs, root)
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
    )


def _trial_id(result) -> str:
    return Path(result.path).name
