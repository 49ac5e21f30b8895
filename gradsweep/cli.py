"""The `gradsweep` command line: each command parses, calls one library function, renders."""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import typer
from rich import box
from rich.live import Live
from rich.table import Table

# Typer 0.29 vendors click; its usage errors are not re-exported at the top level.
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from gradsweep import config as config_module
from gradsweep.config import TrialConfig, estimate_memory_bytes
from gradsweep.console import ReaderGone, console, write
from gradsweep.errors import ConfigError
from gradsweep.metrics import HEADLINE, LIVE_COLUMNS, format_number
from gradsweep.records import strict_json

app = typer.Typer(
    help="Sweeps of monitored RNN/LSTM/GRU training runs, and what their gradients say.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = console()
err = console(stderr=True)


def _choices(name: str, literal: Any) -> type[StrEnum]:
    """A str Enum for Typer from the Literal that TrialConfig validates against."""
    return StrEnum(name, {value: value for value in get_args(literal)})


@app.callback()
def _root() -> None:
    """Sweeps of monitored RNN/LSTM/GRU training runs, and what their gradients say."""


def _quiet_tensorflow() -> None:
    """Import TensorFlow without its C++ start-up chatter on the terminal.

    TF_CPP_MIN_LOG_LEVEL silences most of it; absl and the CUDA stub write to fd 2 directly
    while TensorFlow loads and probes for devices, so fd 2 points at /dev/null for that long.
    Python exceptions still propagate.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _fmt(value: float | None) -> str:
    """A measured number as reports write it (`metrics.format_number`), missing as '-'."""
    return format_number(value, missing="-")


# The live per-epoch table's (metric, header) columns: those the metrics table gives one.
EPOCH_COLUMNS = tuple(LIVE_COLUMNS)


def _epoch_table(title: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    for _, header in EPOCH_COLUMNS:
        table.add_column(header, justify="right", no_wrap=True, min_width=len(header))
    return table


def train(as_json: bool = False, **options: Any) -> None:
    """Train one monitored trial in this process (no Ray) and print what it measured."""
    # Left out when not given, so the config's and the task's own defaults apply; `off`
    # given is an explicit null.
    given = {k: v.value if isinstance(v, StrEnum) else v for k, v in options.items()}
    cfg = _parse_options({k: None if v is OFF else v for k, v in given.items() if v is not None})
    if cfg.warning is not None:
        err.print(f"warning: {cfg.warning}", markup=False, highlight=False)
    _quiet_tensorflow()
    from gradsweep.train import run_trial

    if as_json:
        result = run_trial(cfg)
        write(out, json.dumps(strict_json(result.to_dict()), allow_nan=False) + "\n")
        return
    title = f"{cfg.arch} · {cfg.task} · gap {cfg.gap} · seq_len {cfg.seq_len} · hidden {cfg.hidden}"
    table = _epoch_table(title)
    with Live(table, console=out, auto_refresh=False) as live:

        def show(metrics, _state, _result) -> None:
            row = vars(metrics)
            table.add_row(
                *(
                    _fmt(row[key]) if key != "epoch" and key != "samples_seen" else str(row[key])
                    for key, _ in EPOCH_COLUMNS
                )
            )
            live.refresh()

        result = run_trial(cfg, on_epoch=show)
    out.print()
    _print_summary(result.summary())


# An option whose field's null means off (`Role.off`) given as one of config.OFF_WORDS
# (`--clip-norm off`, as a spec's `clip_norm: off`): an explicit null, unlike one left out.
OFF = object()


def _number_or_off(number: type) -> Any:
    """A parser for an option whose null means off: a number of type `number`, or a word
    of config.OFF_WORDS in any case (OFF); else one line naming the value and what is
    allowed (exit 2, via click)."""

    def parse(text: str) -> Any:
        if config_module.means_off(text):
            return OFF
        try:
            return number(text)
        except (TypeError, ValueError):
            kind = "an integer" if number is int else "a number"
            words = " / ".join(config_module.OFF_WORDS)
            raise typer.BadParameter(f"{text!r}: expected {kind}, or {words}") from None

    return parse


def _option(name: str) -> inspect.Parameter:
    """`train`'s option for TrialConfig field `name`, from the field's type, description and
    role: choices for a Literal, a --x/--no-x flag for a bool, a number or `off`/`none`
    where the field's null means off, the default shown unless the task decides it (then
    None: left to the config)."""
    field = TrialConfig.model_fields[name]
    kind, default = field.annotation, field.default
    off = config_module.ROLES[name].off
    parser = metavar = None
    if off is not None:  # a number or None: `off` given is the null
        number = next(t for t in get_args(kind) if t is not type(None))
        parser, metavar = _number_or_off(number), f"<{number.__name__}|off>"
    if get_origin(kind) is Literal:
        kind = _choices(name.title().replace("_", ""), kind)
        default = kind(default)
    elif kind is not bool:
        kind = kind | None
    help_text = field.description or ""
    if config_module.ROLES[name].per_task:
        per_task = [f"{t}: {d[name]}" for t, d in _task_defaults().items() if name in d]
        if default is not None:
            help_text += f" (default {'; '.join([str(default), *per_task])})"
        default = None
    flag = config_module.option_name(name)
    if kind is bool:
        flag += "/--no-" + flag.removeprefix("--")
    if parser is not None:
        words = " or ".join(config_module.OFF_WORDS)
        help_text += f" {words} (any case) = absent ({off})."
    option = typer.Option(flag, help=help_text, parser=parser, metavar=metavar)
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[kind, option], default=default
    )


def _task_defaults() -> dict[str, dict[str, Any]]:
    from gradsweep import tasks

    return {name: task.defaults for name, task in tasks.TASK_DEFS.items()}


# One option per TrialConfig field, derived from its declaration (config.Role): a new field
# reaches `train` with no edit here.
train.__signature__ = inspect.Signature(
    [
        *(_option(name) for name in TrialConfig.model_fields),
        inspect.Parameter(
            "as_json",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[
                bool, typer.Option("--json", help="Print one strict JSON object instead of tables.")
            ],
            default=False,
        ),
    ]
)
app.command()(train)


def _parse_options(values: dict[str, Any]) -> TrialConfig:
    """TrialConfig from `train`'s options; an error names the option, not the field. A
    trial whose memory estimate exceeds this machine's memory is refused too."""
    try:
        cfg = TrialConfig.parse(values)
    except ConfigError as exc:
        if exc.field in values:
            option = config_module.option_name(exc.field)
            raise ConfigError(str(exc).replace(exc.field, option, 1), option) from None
        raise
    need, have = estimate_memory_bytes(cfg), _machine_memory()
    if need > have:
        raise ConfigError(
            f"memory: this trial may need about {need / 2**30:,.1f} GiB, more than this "
            f"machine's {have / 2**30:,.1f} GiB; make --train-size, --seq-len or --hidden smaller",
            "memory",
        )
    return cfg


def _machine_memory() -> float:
    """This machine's physical memory in bytes."""
    return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _print_summary(summary: dict[str, Any]) -> None:
    verdict = "[green]solved[/]" if summary["solved"] else "[yellow]not solved[/]"
    if summary["diverged"]:
        verdict = "[red]diverged[/]"
    to_solve = summary["samples_to_solve"]
    out.print(
        f"{verdict} after {summary['epochs_run']} epoch(s), {summary['samples_seen']} samples"
        + (f" (solved at {to_solve})" if to_solve else "")
        + f": test acc {_fmt(summary['test_acc'])}, "
        f"best val acc {_fmt(summary['best_val_acc'])}, "
        f"|g| first epoch {_fmt(summary['grad_norm_first'])}, "
        f"max {_fmt(summary['grad_norm_max'])}, "
        f"signal/last at init {_fmt(summary['signal_grad_ratio_init'])}, "
        f"{summary['wall_s']:.1f} s"
    )


STORAGE_HELP = "Where experiments live (a path or s3://, gs:// URI); env GRADSWEEP_STORAGE."
DEFAULT_STORAGE = "results"


def _storage(value: str | None) -> str:
    return value or os.environ.get("GRADSWEEP_STORAGE") or DEFAULT_STORAGE


def _hours(hours: float) -> str:
    """Plain numbers: '0.0021', '14', '3,000' (two significant figures)."""
    if hours >= 10:
        return f"{float(f'{hours:.2g}'):,.0f}"
    return f"{hours:.2g}"


@app.command()
def validate(
    spec: Annotated[Path, typer.Argument(help="A sweep spec (YAML).", dir_okay=False)],
) -> None:
    """Check a spec and print its trial count, grid and a rough compute estimate (no Ray)."""
    from gradsweep.spec import SweepSpec, describe

    loaded = SweepSpec.from_yaml(spec)
    info = describe(loaded, loaded.expand())
    table = Table(
        title=f"{info['name']}: {info['trials']} trials", title_justify="left", box=box.SIMPLE_HEAD
    )
    table.add_column("axis")
    table.add_column("values")
    for axis, values in info["axes"].items():
        shown = [v if isinstance(v, dict) else config_module.format_value(axis, v) for v in values]
        table.add_row(axis, values if isinstance(values, str) else ", ".join(map(str, shown)))
    for key, value in info["fixed"].items():
        table.add_row(f"{key} (fixed)", config_module.format_value(key, value))
    budget = info["budget"]
    table.add_row(
        "budget", f"max_epochs {budget['max_epochs']}, solve_threshold {budget['solve_threshold']}"
    )
    res = info["resources"]
    table.add_row(
        "resources", f"{res['cpus_per_trial']:g} CPU, {res['gpus_per_trial']:g} GPU per trial"
    )
    out.print(table)
    if info["skipped"]:
        shown = ", ".join(f"gap {p['gap']}/seq_len {p['seq_len']}" for p in info["skipped"])
        out.print(f"skipped {len(info['skipped'])} infeasible point(s): {shown}")
    out.print(
        f"estimate: at most about {_hours(info['estimate_cpu_hours'])} CPU-hours if no trial "
        "stops early "
        "(measured rates on a 2-core x86 CPU; early stops make it shorter)"
    )
    out.print(
        f"memory: at most about {info['memory_bytes'] / 2**30:,.1f} GiB per trial "
        "(TensorFlow's base, data, weights, optimizer and activations)"
    )
    for line in info["warnings"]:
        err.print(f"warning: {line}", markup=False, highlight=False)
    search = info["search"]
    if search:
        models = " × ".join(search["models"]) or "one model"
        out.print(
            f"frontier search over {search['axis']} per model ({models}), majority "
            f"{search['majority']} seed(s), lookahead {search['lookahead']}"
            + (", verify" if search["verify"] else "")
            + f": between {search['fewest']} and {search['most']} trials"
        )


@app.command()
def launch(
    spec: Annotated[Path, typer.Argument(help="A sweep spec (YAML).", dir_okay=False)],
    name: Annotated[str | None, typer.Option(help="Experiment name (default: the spec's).")] = None,
    storage: Annotated[str | None, typer.Option(help=STORAGE_HELP)] = None,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster to join (auto or host:port); default: local.")
    ] = None,
    cpus_per_trial: Annotated[
        float | None, typer.Option(help="CPUs per trial (overrides the spec).")
    ] = None,
    gpus_per_trial: Annotated[
        float | None, typer.Option(help="GPUs per trial, may be fractional (overrides the spec).")
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option(min=1, help="At most this many trials at once.")
    ] = None,
    tensorboard: Annotated[
        bool,
        typer.Option(help="Tune's TensorBoard event files in every trial directory."),
    ] = True,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            help="Run grids larger than max_trials, and trials that seem not to fit any node "
            "(memory estimate; on a cluster, for an autoscaler to add one).",
        ),
    ] = False,
) -> int:
    """Run a spec's grid as Ray Tune trials (embedded local Ray unless --address)."""
    from gradsweep.spec import SweepSpec, warnings

    loaded = SweepSpec.from_yaml(spec)
    for line in warnings(loaded.expand()):
        err.print(f"warning: {line}", markup=False, highlight=False)
    from gradsweep import sweep  # the driver never imports TensorFlow: its workers do

    plan = sweep.prepare(
        loaded,
        name=name,
        storage=_storage(storage),
        address=address or os.environ.get("RAY_ADDRESS"),
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        max_concurrent=max_concurrent,
        yes=yes,
        tensorboard=tensorboard,
    )
    sweep.connect(plan)  # errors that need Ray (a cluster's nodes) come before the bar
    started = time.monotonic()
    with _progress_bar(len(plan.configs)) as update, _resumable(plan.name):
        outcome = sweep.run(plan, on_progress=update)
    return _render_outcome(outcome, plan.name, time.monotonic() - started)


@app.command()
def resume(
    name: Annotated[str, typer.Argument(help="Experiment name under --storage, or a path.")],
    storage: Annotated[str | None, typer.Option(help=STORAGE_HELP)] = None,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster to join (auto or host:port); default: local.")
    ] = None,
    cpus_per_trial: Annotated[
        float | None, typer.Option(help="CPUs per trial (default: as launched).")
    ] = None,
    gpus_per_trial: Annotated[
        float | None, typer.Option(help="GPUs per trial (default: as launched).")
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option(min=1, help="At most this many trials at once.")
    ] = None,
) -> int:
    """Continue an interrupted sweep from its trials' own records, wherever its directory
    now is (moved, copied, local or a bucket): finished trials are not run again, the
    others continue from their last saved state. Checks that a trial fits, as launch does."""
    from gradsweep import sweep
    from gradsweep.layout import experiment_location

    path = experiment_location(name, _storage(storage))
    plan = sweep.prepare_resume(
        path,
        address or os.environ.get("RAY_ADDRESS"),
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        max_concurrent=max_concurrent,
    )
    if plan.nothing_to_do:
        out.print(f"nothing to do: all {plan.total} trials of {plan.name} have finished")
        return 0
    sweep.connect_resume(plan)  # errors that need Ray (a cluster's nodes) come first
    out.print(f"resuming {plan.name}: {plan.finished}/{plan.total} trials finished before")
    started = time.monotonic()
    with _progress_bar(plan.total) as update, _resumable(plan.name):
        outcome = sweep.resume(plan, on_progress=update)
    return _render_outcome(outcome, plan.name, time.monotonic() - started)


class _resumable:
    """A second Ctrl-C (Tune handles the first by stopping gracefully) ends the command at
    once; the message names the command that continues the sweep."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback) -> bool:
        if kind is KeyboardInterrupt:
            err.print(f"interrupted; continue with `gradsweep resume {self.name}`", markup=False)
            raise SystemExit(130)
        return False


def _render_outcome(outcome, name: str, elapsed: float) -> int:
    if outcome.interrupted:
        err.print(
            f"interrupted: {outcome.terminated}/{outcome.total} trials finished; continue with "
            f"`gradsweep resume {name}`",
            markup=False,
        )
        return 130
    out.print(
        f"{outcome.terminated}/{outcome.total} trials finished"
        + (f" ({outcome.diverged} diverged)" if outcome.diverged else "")
        + (f" (frontier search: {outcome.grid} grid points)" if outcome.grid else "")
        + f" in {_clock(elapsed)} on {outcome.workers} worker process(es); results in "
        + str(outcome.path)
    )
    if outcome.failed:
        err.print(f"{len(outcome.failed)} trial(s) failed after all retries:", markup=False)
        for trial_id, error_file in outcome.failed:
            err.print(f"  {trial_id}: {error_file}", markup=False)
        return 1
    return 0


def _clock(seconds: float) -> str:
    """Elapsed or remaining time in full: 0:02:13, 12:03:00 (hours are never cut)."""
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class _progress_bar:
    """A rich progress bar fed with SweepProgress snapshots; where stderr is not a terminal
    (a log file, CI), a plain line every `every_trials` finished trials or `every_s` seconds,
    written once the counts have settled (`_settled`), and the last state at the end."""

    every_s = 30.0

    def __init__(self, total: int):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.plain = not err.is_terminal
        self.every_trials = max(1, total // 20)
        self.last_line: tuple[float, int] | None = None  # when, and at how many finished
        self.peak = 0  # the most trials seen running at once: the slots, as far as seen
        self.held_since: float | None = None  # a line due but not yet settled, since when
        self.latest = None  # the newest snapshot, and the counts last written
        self.written: tuple[int, ...] | None = None

        self.progress = Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} done"),
            TextColumn(
                "{task.fields[running]} running, {task.fields[failed]} failed, "
                "{task.fields[pending]} pending"
            ),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=err,
        )
        self.task = self.progress.add_task(
            "sweep", total=total, running=0, failed=0, pending=total, best="-", eta="-"
        )

    def __enter__(self):
        if not self.plain:
            self.progress.start()
        return self.update

    def __exit__(self, *exc) -> None:
        if not self.plain:
            self.progress.stop()
        elif self.latest is not None and _counts(self.latest) != self.written:
            self._write(self.latest)  # the last state, settled or not: nothing follows

    def update(self, snapshot) -> None:
        if self.plain:
            self._line(snapshot)
            return
        _, best, eta = _progress_numbers(snapshot)
        self.progress.update(
            self.task,
            total=snapshot.total,  # a frontier search's shrinks as its walk decides
            completed=snapshot.done,
            running=snapshot.running,
            failed=snapshot.failed,
            pending=snapshot.pending,
            best=best,
            eta=eta,
        )

    def _line(self, snapshot) -> None:
        now = time.monotonic()
        self.latest, self.peak = snapshot, max(self.peak, snapshot.running)
        finished = snapshot.done + snapshot.failed
        if self.last_line is not None:
            when, at = self.last_line
            if finished - at < self.every_trials and now - when < self.every_s:
                return
        if not self._settled(snapshot, finished):
            self.held_since = self.held_since or now
            if now - self.held_since < self.every_s:
                return
        self.last_line, self.held_since = (now, finished), None
        self._write(snapshot)

    def _settled(self, snapshot, finished: int) -> bool:
        """Whether the counts are not in passing: a worker freed by a trial that ended takes
        the next trial a moment later (measured with Ray 2.60, 2 slots: the next trial
        started within 0.1 s, and every line written at an end said "1 running"), and the
        workers start side by side before the first epoch is reported."""
        started = snapshot.best_val_acc is not None or finished > 0
        handing_on = snapshot.running < self.peak and snapshot.pending > 0
        return started and not handing_on

    def _write(self, snapshot) -> None:
        elapsed, best, eta = _progress_numbers(snapshot)
        self.written = _counts(snapshot)
        err.print(
            f"sweep: {snapshot.done}/{snapshot.total} done, {snapshot.running} running, "
            f"{snapshot.failed} failed, {snapshot.pending} pending, best {best}, "
            f"elapsed {_clock(elapsed)}, ETA {eta}",
            markup=False,
            highlight=False,
        )


def _counts(snapshot) -> tuple[int, ...]:
    return (snapshot.total, snapshot.done, snapshot.running, snapshot.failed)


def _progress_numbers(snapshot) -> tuple[float, str, str]:
    """Elapsed seconds, the best validation accuracy and the ETA as a progress line shows
    them (the ETA from the mean time per finished trial so far)."""
    elapsed = time.monotonic() - snapshot.started
    finished = snapshot.done + snapshot.failed
    eta = _clock(elapsed / finished * (snapshot.total - finished)) if finished else "-"
    best = "-" if snapshot.best_val_acc is None else f"{snapshot.best_val_acc:.3f}"
    return elapsed, best, eta


@app.command()
def status(
    name: Annotated[str, typer.Argument(help="Experiment name under --storage, or a path.")],
    storage: Annotated[str | None, typer.Option(help=STORAGE_HELP)] = None,
) -> None:
    """Counts of trials by status; the running and failed ones."""
    from gradsweep.results import load_results, status_counts

    results = load_results(name, _storage(storage))
    counts = status_counts(results)
    out.print(f"{results.path}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    trials = results.trials
    shown = _swept_columns(trials)
    for state in ("RUNNING", "ERROR"):
        subset = trials[trials["status"] == state]
        for _, row in subset.iterrows():
            extra = (
                f", error file {results.path}/{row.trial_id}/error.txt" if state == "ERROR" else ""
            )
            epochs = "-" if _missing(row["epochs_run"]) else int(row["epochs_run"])
            settings = " · ".join(f"{c} {config_module.format_value(c, row[c])}" for c in shown)
            out.print(
                f"  {state.lower():8} {row.trial_id}: {settings}, epoch {epochs} of "
                f"{row['max_epochs']}{extra}",
                markup=False,
                highlight=False,
            )


def _swept_columns(trials) -> list[str]:
    """The config columns whose value differs between trials (arch always), in table order."""
    from gradsweep.analysis import swept
    from gradsweep.config import TABLE_FIELDS

    return ["arch", *(c for c in TABLE_FIELDS if c != "arch" and swept(trials, c))]


@app.command()
def watch(
    name: Annotated[str, typer.Argument(help="Experiment name under --storage, or a path.")],
    storage: Annotated[str | None, typer.Option(help=STORAGE_HELP)] = None,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
    every: Annotated[float, typer.Option(min=0.5, help="Seconds between refreshes.")] = 5.0,
) -> None:
    """A live view of a sweep, read from its directory alone (another shell, a copy, no
    Ray): trials by status, best validation accuracy by model and level, the frontier so
    far, and the running trials' latest epoch. Ends when no trial is left to run."""
    import time

    from rich.console import Group

    from gradsweep.layout import experiment_location
    from gradsweep.results import load_results
    from gradsweep.watch import snapshot
    from gradsweep.watch_view import frame_parts

    path = experiment_location(name, _storage(storage))

    def frame():
        results = load_results(path)
        view = snapshot(results)
        left = sum(view.counts.get(s, 0) for s in ("RUNNING", "PENDING", "PAUSED"))
        return Group(*frame_parts(view, path, out)), left == 0

    shown, done = frame()
    if once:
        out.print(shown)
        return
    with Live(shown, console=out, auto_refresh=False) as live:
        while not done:
            time.sleep(every)  # a refresh interval: the files change without an event
            shown, done = frame()
            live.update(shown, refresh=True)


def _missing(value: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


class Format(StrEnum):
    table = "table"
    csv = "csv"
    parquet = "parquet"
    json = "json"


@app.command()
def results(
    name: Annotated[str, typer.Argument(help="Experiment name under --storage, or a path.")],
    storage: Annotated[str | None, typer.Option(help=STORAGE_HELP)] = None,
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    show_frontier: Annotated[
        bool,
        typer.Option("--frontier", help="The frontier per model instead of the trial table."),
    ] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write to this file instead of the terminal.")
    ] = None,
) -> None:
    """The tidy trial table: one row per trial, config and final metrics."""
    from gradsweep.results import load_results

    trials = load_results(name, _storage(storage)).trials
    if show_frontier:
        from gradsweep.analysis import finished, frontier

        done = finished(trials)
        if done.empty:
            out.print("no trial has finished yet: no frontier to show")
            return
        trials = frontier(done)
    if format is Format.parquet and out_file is None:
        raise ConfigError("--out: parquet is binary; give --out FILE", "--out")
    if out_file is not None and not out_file.parent.is_dir():
        raise ConfigError(f"--out: {str(out_file)!r}: its directory does not exist", "--out")
    if format is Format.parquet:
        trials.to_parquet(out_file, index=False)
        return
    if format is Format.csv:
        text = trials.to_csv(index=False)
    elif format is Format.json:
        text = trials.to_json(orient="records", indent=1)
    elif show_frontier:
        text = trials.to_string(index=False, na_rep="-", float_format=_fmt)
    else:
        text = _trials_table_text(trials)
    if out_file is None:
        write(out, text if text.endswith("\n") else text + "\n")
    else:
        out_file.write_text(text)


def _trials_table_text(trials) -> str:
    """The trial table for a terminal: ids and status, the settings the sweep varies (as the
    spec writes them: clipping 'off', floats as 1.0), and the headline metrics."""
    metrics = HEADLINE
    settings = [c for c in _swept_columns(trials) if c != "seed"] + ["seed"]
    shown = trials[[c for c in ["trial_id", "status", *settings, *metrics] if c in trials]].copy()
    for column in settings:
        if str(shown[column].dtype) in ("float64", "Float64"):
            shown[column] = [config_module.format_value(column, v) for v in shown[column]]
    return shown.to_string(index=False, na_rep="-", float_format=_fmt)


@app.command()
def report(
    names: Annotated[
        list[str],
        typer.Argument(
            help="Experiment name(s) under --storage, or paths; several are reported together.",
            metavar="NAME...",
        ),
    ],
    storage: Annotated[str | None, typer.Option(help=STORAGE_HELP)] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Directory for the report (default: NAME/report; ./reports/NAME for a URI, "
            "./reports/A+B for several, shortened with a hash past 255 bytes).",
        ),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            help="A swept setting (clip_norm, recurrent_init, activation, optimizer, hidden, "
            "lr ...) whose values are set against each other, level by level (default: the "
            "only one the sweep varies besides arch, the dependency and the seed)."
        ),
    ] = None,
    every: Annotated[
        float | None,
        typer.Option(
            "--watch",
            min=1.0,
            help="Rewrite the report every this many seconds until no trial is left to run.",
        ),
    ] = None,
) -> None:
    """Figures, the trainability frontier and findings computed from the results of one
    experiment, or of several together (a config in more than one counts once); with
    --compare, a setting's values set against each other; with --watch, rewritten while the
    sweep runs (the report says it is partial, and when)."""
    import time

    from gradsweep.report import report_directory, write_report
    from gradsweep.results import load_results

    sources = names if len(names) > 1 else names[0]
    loaded = load_results(sources, _storage(storage))
    target = out_dir or report_directory(loaded)
    if out_dir is None and target.parent == Path("reports"):  # several, or remote: here
        target.parent.mkdir(exist_ok=True)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"--out: {str(target)!r} is not a directory", "--out")
    if not target.exists() and not target.parent.is_dir():
        raise ConfigError(f"--out: {str(target)!r}: its parent directory does not exist", "--out")
    written = write_report(loaded, target, compare)
    while every is not None and written.partial:
        out.print(f"{written.written} Next in {every:g} s: {written.html}", markup=False)
        time.sleep(every)  # a refresh interval: the files change without an event
        written = write_report(load_results(sources, _storage(storage)), target, compare)
    for sentence in written.findings:
        out.print(f"- {sentence}", markup=False, highlight=False)
    out.print(f"report: {written.html}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input is one line on stderr and exit code 2, never a traceback; a
    reader that leaves early (`| head`) ends it quietly with 141."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes: one model a trial
    try:
        code = app(args=argv, prog_name="gradsweep", standalone_mode=False)
        sys.stdout.flush()  # a reader that left early shows here, not at interpreter exit
    except (ReaderGone, BrokenPipeError):
        return _reader_gone()
    except NoArgsIsHelpError:
        return 2  # the help text has been printed
    except UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        message = exc.format_message().replace("Value error, ", "")
        err.print(f"error: {message}{hint}", markup=False, highlight=False)
        return 2
    except ConfigError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        return 2
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted", markup=False)
        return 130
    except OSError as exc:  # on a path given, or derived from names given: bad input
        if exc.filename is None or os.environ.get("GRADSWEEP_DEBUG"):
            return _unexpected(exc)
        reason = exc.strerror or type(exc).__name__
        err.print(f"error: {str(exc.filename)!r}: {reason}", markup=False, highlight=False)
        return 2
    except Exception as exc:  # not bad input: a bug or an environment problem
        return _unexpected(exc)
    return code if isinstance(code, int) else 0


# What a shell reports for a program that a closed pipe stopped: 128 + SIGPIPE (13).
EXIT_PIPE_CLOSED = 141


def _reader_gone() -> int:
    """stdout's reader left before the output ended (`gradsweep ... | head`; the consoles
    say so with ReaderGone, before Typer can make it exit 1): no message, exit 141. stdout
    is pointed at /dev/null so that Python's own flush at exit has nowhere to fail
    ("Exception ignored ... BrokenPipeError"), as the Python docs advise (signal module,
    "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_PIPE_CLOSED


def _unexpected(exc: Exception) -> int:
    """A bug or an environment problem: one line and exit 1 (the traceback on request)."""
    if os.environ.get("GRADSWEEP_DEBUG"):
        raise exc
    err.print(
        f"error: unexpected {type(exc).__name__}: {exc} (GRADSWEEP_DEBUG=1 shows the traceback)",
        markup=False,
        highlight=False,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
