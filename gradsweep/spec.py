"""Sweep specs: YAML 1.2 (data only, read by `spec_yaml`) into a frozen, validated model,
and the grid it expands to; no two of its points may be the same trial config.

Every error is a `ConfigError` of one line naming the field path, the bad value and what is
allowed. Nothing here imports TensorFlow or Ray.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from gradsweep import archs, tasks
from gradsweep.archs import ARCHS
from gradsweep.config import (
    NULL_MEANS_OFF,
    ROLES,
    SPEC_FIELDS,
    Task,
    TrialConfig,
    estimate_memory_bytes,
    means_off,
)
from gradsweep.errors import (
    ConfigError,
    field_path,
    from_validation_error,
    part_error,
    unknown_field,
)
from gradsweep.frontier_search import default_majority
from gradsweep.search_plan import FrontierPlan, Search, check_axis
from gradsweep.spec_yaml import explain, load_yaml

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
# Fields a spec may not sweep or fix, and the section that owns each (the budget's, or
# resources', which set threads).
NOT_SPEC_FIELDS = {name: r.section for name, r in ROLES.items() if r.section is not None}
# An axis whose values are partial configs, for models that are combinations of fields
# (Le et al.'s IRNN is arch rnn + activation relu + recurrent_init identity), so that a grid
# need not cross fields that only make sense together.
MODELS_AXIS = "models"

# seq_len as an integer expression of gap: gap, gap+K, gap-K, K*gap, gap*K, K*gap+M.
# A regular grammar, matched whole; numbers are bounded so nothing hostile can grow.
_SEQ_LEN_EXPR = re.compile(
    r"\s*(?:(?P<mul>\d{1,6})\s*\*\s*)?gap(?:\s*\*\s*(?P<mul2>\d{1,6}))?"
    r"\s*(?:(?P<sign>[+-])\s*(?P<add>\d{1,6}))?\s*"
)


def parse_seq_len(expr: str) -> tuple[int, int]:
    """`(a, b)` such that seq_len = a * gap + b, or ConfigError."""
    match = _SEQ_LEN_EXPR.fullmatch(expr)
    if match is None or (match["mul"] and match["mul2"]):
        raise ConfigError(
            f"axes.seq_len: {expr!r} is not allowed: use a list of integers or an expression "
            "of gap such as gap+10, 2*gap, 2*gap+5",
            "axes.seq_len",
        )
    mul = int(match["mul"] or match["mul2"] or 1)
    add = int(match["add"] or 0) * (-1 if match["sign"] == "-" else 1)
    return mul, add


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    max_epochs: int = Field(40, ge=1, le=1_000_000)
    solve_threshold: float = Field(0.99, gt=0.5, le=1.0)


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    # Bounds of a single Ray node as built today, not of a cluster.
    cpus_per_trial: float = Field(1.0, gt=0, le=1024, allow_inf_nan=False)
    gpus_per_trial: float = Field(0.0, ge=0, le=64, allow_inf_nan=False)


class SweepSpec(BaseModel):
    """A sweep: fixed settings, axes whose product is the grid, budget and resources."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr
    task: Task | None = None
    axes: dict[str, Any] = Field(min_length=1)
    fixed: dict[str, Any] = Field(default_factory=dict)
    budget: Budget = Budget()
    resources: Resources = Resources()
    max_failures: StrictInt = Field(2, ge=0, le=100)
    skip_infeasible: StrictBool = False
    max_trials: StrictInt = Field(100_000, ge=1, le=10_000_000)
    search: Search = Search()

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not re.fullmatch(NAME_PATTERN, name):
            raise ValueError(
                "use 1 to 128 letters, digits, '.', '_' or '-' (no spaces), not starting "
                "with '.' or '-'"
            )
        return name

    @field_validator("axes")
    @classmethod
    def _known_axes(cls, axes: dict[str, Any]) -> dict[str, Any]:
        for key, values in axes.items():
            if key == MODELS_AXIS:
                _check_models(values)
            else:
                _check_field_name(key, (), "axes")
                _check_axis(key, values)
        return {key: _axis_off_as_null(key, values) for key, values in axes.items()}

    @field_validator("fixed")
    @classmethod
    def _known_fixed(cls, fixed: dict[str, Any]) -> dict[str, Any]:
        for key in fixed:
            _check_field_name(key, (), "fixed")
        return _off_as_null(fixed)

    @classmethod
    def from_yaml(cls, path: str | Path) -> SweepSpec:
        """Load and validate a spec file; any problem is a one-line ConfigError."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise ConfigError(f"spec: cannot read {str(path)!r}: {err.strerror}", "spec") from None
        return cls.from_text(raw, str(path))

    @classmethod
    def from_text(cls, raw: bytes | str, source: str = "spec") -> SweepSpec:
        """Validate a spec given as YAML 1.2 (or JSON) text: the one spec reader, which
        `from_yaml`, `validate` and `launch` use."""
        data = load_yaml(raw, source)
        if not isinstance(data, dict):
            raise ConfigError(f"spec: {source} must be a YAML mapping of fields", "spec")
        try:  # keys as names: YAML reads `1:` as the number 1, a field that does not exist
            spec = cls(**{str(k): _keys_as_names(v) for k, v in data.items()})
        except ValidationError as err:
            raise refusal(err) from None
        spec.expand()  # every grid point is checked before anything runs
        spec.frontier_plan()  # and the search settings
        return spec

    def expand(self) -> Grid:
        """The trials of the grid, in axis order, and the infeasible points skipped."""
        return expand(self)

    def frontier_plan(self) -> FrontierPlan | None:
        """The checked frontier search settings, or None for a grid."""
        search = self.search
        if search.method == "grid":
            return None
        axis = search.axis or self.dependency_axis()
        check_axis(axis, self.axes, _model_keys(self.axes.get(MODELS_AXIS, [])))
        seeds = len(self.axes["seed"]) if "seed" in self.axes else 1
        majority = search.majority if search.majority is not None else default_majority(seeds)
        if majority > seeds:
            raise ConfigError(
                f"search.majority: {majority} is not allowed: the spec runs {seeds} seed(s) "
                "per point",
                "search.majority",
            )
        derived = {"seq_len"} if isinstance(self.axes.get("seq_len"), str) else set()
        model_fields = [k for k in self.axes if k not in {axis, "seed", *derived}]
        if MODELS_AXIS in model_fields:
            at = model_fields.index(MODELS_AXIS)
            model_fields[at : at + 1] = _model_keys(self.axes[MODELS_AXIS])
        return FrontierPlan(axis, model_fields, majority, search.lookahead, search.verify)

    def dependency_axis(self) -> str:
        """The spec's tasks' dependency axis (`tasks.dependency_axis`), `seq_len` where
        they disagree."""
        named = [self.task, self.fixed.get("task"), *self.axes.get("task", [])]
        named += [model.get("task") for model in self.axes.get(MODELS_AXIS, [])]
        names = {n for n in named if isinstance(n, str)} or {TrialConfig().task}
        axes = {tasks.TASK_DEFS[n].dependency_axis for n in names if n in tasks.TASK_DEFS}
        return axes.pop() if len(axes) == 1 else "seq_len"

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (for manifests)."""
        return self.model_dump()


def _keys_as_names(section: Any) -> Any:
    """A section's mapping with its keys as text, so an error names `budget.1`; other
    values as they are."""
    return {str(k): v for k, v in section.items()} if isinstance(section, dict) else section


def _check_axis(key: str, values: Any) -> None:
    """Refuse an axis that is not a list of one or more values (`seq_len` may be an
    expression of gap)."""
    if isinstance(values, str) and key == "seq_len":
        return
    if not isinstance(values, list):
        such = f" (write [{values}])" if isinstance(values, int | float | str) else ""
        or_expr = " or an expression of gap such as gap+10" if key == "seq_len" else ""
        raise part_error((key,), f"an axis is a list of values{or_expr}{such}", values)
    if not values:
        raise part_error((key,), "an axis needs at least one value", values)


_MODEL_EXAMPLE = "{arch: rnn, activation: relu, recurrent_init: identity}"


def _check_models(values: Any) -> None:
    """Refuse a models axis that is not a list of mappings of known config fields."""
    if not isinstance(values, list) or not values:
        raise part_error(
            (MODELS_AXIS,),
            f"axis {MODELS_AXIS} must be a list of mappings of config fields, such as "
            f"[{_MODEL_EXAMPLE}]",
            values,
        )
    for i, model in enumerate(values):
        if not isinstance(model, dict) or not model:
            raise part_error(
                (MODELS_AXIS, i),
                f"a {MODELS_AXIS} entry is a mapping of config fields, such as {_MODEL_EXAMPLE}",
                model,
            )
        for key in model:
            _check_field_name(key, (MODELS_AXIS, i), field_path("axes", MODELS_AXIS, i))


def _null_if_off(key: str, value: Any) -> Any:
    """None for `off`, `none` (any case; `config.OFF_WORDS`) where the field's null means
    off, as `train --clip-norm off` reads them; else the value as written."""
    return None if key in NULL_MEANS_OFF and means_off(value) else value


def _off_as_null(values: dict[str, Any]) -> dict[str, Any]:
    """A mapping of config fields (fixed, a models entry) with its off words read as null."""
    return {key: _null_if_off(key, value) for key, value in values.items()}


def _axis_off_as_null(key: str, values: list[Any] | str) -> list[Any] | str:
    """An axis with its off words read as null (a models axis: in each entry)."""
    if isinstance(values, str):
        return values
    if key == MODELS_AXIS:
        return [_off_as_null(model) for model in values]
    return [_null_if_off(key, value) for value in values]


def _model_keys(models: list[dict[str, Any]]) -> list[str]:
    """The fields the entries of a `models` axis set, in first-seen order."""
    return list(dict.fromkeys(key for model in models for key in model))


def _check_field_name(key: str, path: tuple[str | int, ...], section: str) -> None:
    """Refuse a key of `section` (its `path` under the validated field) that is not a
    field a spec may set there."""
    if key in NOT_SPEC_FIELDS:
        raise part_error((*path, key), f"belongs in {NOT_SPEC_FIELDS[key]}, not {section}")
    if key not in SPEC_FIELDS:
        allowed = (*SPEC_FIELDS, MODELS_AXIS) if path == () and section == "axes" else SPEC_FIELDS
        raise unknown_field((*path, key), allowed)


def refusal(err: ValidationError, prefix: str = "", at: str | None = None) -> ConfigError:
    """`from_validation_error`'s line (an unknown key with the closest known one), plus why
    the value was read as it was where YAML 1.2's reading is the likely cause (`on` is
    text, `1e4` a float)."""
    line = from_validation_error(err, prefix, at, SweepSpec)
    first = err.errors(include_url=False)[0]
    field = re.sub(r"\[\d+\]$", "", str(line.field)).rsplit(".", 1)[-1]
    why = explain(first.get("input"), first["type"], field in NULL_MEANS_OFF)
    return ConfigError(str(line) + why, line.field) if why else line


class Grid(BaseModel):
    """An expanded spec: the trial configs to run and the infeasible points skipped."""

    model_config = ConfigDict(frozen=True)
    trials: list[TrialConfig]
    skipped: list[dict[str, Any]]


@functools.cache
def _adapter(key: str) -> TypeAdapter:
    """A validator of one TrialConfig field on its own (built once: it takes milliseconds)."""
    field = TrialConfig.model_fields[key]
    return TypeAdapter(Annotated[field.annotation, field])


def _check_values(spec: SweepSpec) -> None:
    """Each axis, fixed and models value against its TrialConfig field, named by where the
    spec writes it (`axes.gap[2]`, `fixed.lr`, `axes.models[1].hidden`)."""
    for path, key, value in _written_values(spec):
        if value is None and key not in NULL_MEANS_OFF:
            raise ConfigError(
                f"{path}: null is not allowed: only {', '.join(NULL_MEANS_OFF)} take null "
                "(off, or as the default)",
                path,
            )
        try:  # strict: a YAML `true` is not 1, a string is not a number
            _adapter(key).validate_python(value, strict=True)
        except ValidationError as err:
            raise refusal(err, at=path) from None
    for i, model in enumerate(spec.axes.get(MODELS_AXIS, [])):
        again = sorted(set(model) & (set(spec.axes) | set(spec.fixed)))
        if again:
            path = field_path("axes", MODELS_AXIS, i, again[0])
            raise ConfigError(f"{path}: is also an axis or fixed; give it in one place", path)


def _written_values(spec: SweepSpec) -> Iterator[tuple[str, str, Any]]:
    """Every config value the spec writes: its path, its field and the value."""
    for key, values in spec.axes.items():
        if key == MODELS_AXIS:
            for i, model in enumerate(values):
                yield from ((field_path("axes", key, i, k), k, v) for k, v in model.items())
        elif not isinstance(values, str):  # a seq_len expression is checked on its own
            yield from ((field_path("axes", key, i), key, v) for i, v in enumerate(values))
    yield from ((field_path("fixed", key), key, value) for key, value in spec.fixed.items())


def _paths(spec: SweepSpec, names: list[str], combo: tuple[int, ...]) -> dict[str, str]:
    """Where the spec writes each config value of one grid point (`axes.gap[2]`,
    `axes.models[1].hidden`, `fixed.lr`, `budget.max_epochs`, `task`)."""
    paths = {key: field_path("budget", key) for key in Budget.model_fields}
    if isinstance(spec.axes.get("seq_len"), str):  # an expression of gap
        paths["seq_len"] = "axes.seq_len"
    paths |= {key: field_path("fixed", key) for key in spec.fixed}
    for key, i in zip(names, combo, strict=True):
        if key == MODELS_AXIS:
            paths |= {k: field_path("axes", key, i, k) for k in spec.axes[key][i]}
        else:
            paths[key] = field_path("axes", key, i)
    return paths


def expand(spec: SweepSpec) -> Grid:
    """Expand the product of the axes into validated TrialConfigs."""
    _check_values(spec)
    overlap = sorted(set(spec.axes) & set(spec.fixed))
    if overlap:
        raise ConfigError(f"fixed.{overlap[0]}: is also an axis; give it in one place", overlap[0])
    if spec.task is not None and "task" in spec.axes | spec.fixed:
        raise ConfigError("task: given at the top and in axes/fixed; give it in one place", "task")
    expr = spec.axes.get("seq_len")
    seq_len_of = None
    if isinstance(expr, str):
        if "gap" not in spec.axes and "gap" not in spec.fixed:
            raise ConfigError("axes.seq_len: an expression of gap needs gap in axes or fixed")
        mul, add = parse_seq_len(expr)
        seq_len_of = lambda gap: mul * gap + add  # noqa: E731
    names = [k for k in spec.axes if not (k == "seq_len" and seq_len_of)]
    base = {"task": spec.task, **spec.fixed, **spec.budget.model_dump()}
    base = {k: v for k, v in base.items() if v is not None}
    trials, skipped, origins = [], [], []
    for combo in itertools.product(*(range(len(spec.axes[k])) for k in names)):
        point = {k: spec.axes[k][i] for k, i in zip(names, combo, strict=True)}
        point = {**point.pop(MODELS_AXIS, {}), **point}  # a model's fields are its point's
        values = {**base, **point}
        if seq_len_of is not None and values.get("gap") is not None:
            values["seq_len"] = seq_len_of(values["gap"])
        if _infeasible(values):
            skipped.append({k: values.get(k) for k in ("task", "gap", "seq_len")})
            continue
        trials.append(_trial(values, _paths(spec, names, combo)))
        origins.append(combo)
    _refuse_same_trials(spec, names, trials, origins)
    if skipped and not spec.skip_infeasible:
        shown = ", ".join(f"(gap={p['gap']}, seq_len={p['seq_len']})" for p in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        raise ConfigError(
            f"axes: {len(skipped)} grid point(s) have gap >= seq_len: {shown}{more}; "
            "make seq_len larger or set skip_infeasible: true to skip them",
            "axes",
        )
    if not trials:
        raise ConfigError("axes: every grid point is infeasible; nothing would run", "axes")
    return Grid(trials=trials, skipped=skipped)


def _refuse_same_trials(
    spec: SweepSpec, names: list[str], trials: list[TrialConfig], origins: list[tuple[int, ...]]
) -> None:
    """Refuse two grid points that validate to the same trial config (`[1, 1.0]`,
    `[0.001, 1e-3]`, a models entry that spells out a default, a `clip_mode` swept with
    `clip_norm: [null, ...]`), naming where they differ and, where a setting does not
    apply to them (`archs.inapplicable`), why: the copies would share one seed slot of a
    frontier level, or count twice in a grid."""
    seen: dict[tuple, int] = {}
    for i, trial in enumerate(trials):
        first = seen.setdefault(tuple(trial.model_dump().values()), i)
        if first == i:
            continue
        differ = [
            (k, a, b) for k, a, b in zip(names, origins[first], origins[i], strict=True) if a != b
        ]
        left = ", ".join(_item(spec, k, a) for k, a, _ in differ)
        right = ", ".join(_item(spec, k, b) for k, _, b in differ)
        where = ", ".join(f"axes.{k}" for k, _, _ in differ)
        why = _why_the_same(spec, names, origins[first], origins[i], trial)
        if why is None:
            raise ConfigError(
                f"{where}: {left} and {right} give the same trial config; keep one of them",
                where.split(", ")[0],
            )
        field, reason = why
        raise ConfigError(
            f"{where}: {left} and {right} give the same trial config: {reason}; give {field} only "
            "where it applies (a models entry can pair settings), or keep one of them",
            where.split(", ")[0],
        )


def _why_the_same(
    spec: SweepSpec,
    names: list[str],
    one: tuple[int, ...],
    other: tuple[int, ...],
    trial: TrialConfig,
) -> tuple[str, str] | None:
    """The field that two grid points set differently, that the trial they both give does
    not hold as either wrote it (so it was dropped, not a default spelled out) and that
    does not apply to that trial, and why (`archs.inapplicable`); None where none such."""
    points = []
    for combo in (one, other):
        point = {k: spec.axes[k][i] for k, i in zip(names, combo, strict=True)}
        points.append({**point.pop(MODELS_AXIS, {}), **point})
    values = trial.model_dump()
    for key in dict.fromkeys([*points[0], *points[1]]):
        dropped = any(key in point and point[key] != values.get(key) for point in points)
        if points[0].get(key) != points[1].get(key) and dropped:
            reason = archs.inapplicable(key, values)
            if reason is not None:
                return key, reason
    return None


def _item(spec: SweepSpec, axis: str, at: int) -> str:
    """An axis value as the spec gave it, and its place: `1.0 (item 2)`."""
    value = spec.axes[axis][at]
    if axis == MODELS_AXIS:
        shown = "{" + ", ".join(f"{k}: {_written(v)}" for k, v in value.items()) + "}"
    else:
        shown = _written(value)
    return f"{shown} (item {at + 1})"


def _written(value: Any) -> str:
    """A value as YAML writes it where Python's repr differs: null, not None."""
    return "null" if value is None else repr(value)


def _infeasible(values: dict[str, Any]) -> bool:
    gap, seq_len = values.get("gap"), values.get("seq_len", TrialConfig().seq_len)
    task = values.get("task", "recall")
    return task == "recall" and isinstance(gap, int) and isinstance(seq_len, int) and gap >= seq_len


def _trial(values: dict[str, Any], paths: dict[str, str]) -> TrialConfig:
    """Validate one grid point; an error names where the spec writes the offending value
    (`paths`), or the bare field where the config's default is what was refused."""
    try:
        return TrialConfig(**values)
    except ValidationError as err:
        loc = err.errors()[0]["loc"]
        field = str(loc[0]) if loc else ""
        raise refusal(err, at=paths.get(field, field) or None) from None


def describe(spec: SweepSpec, grid: Grid) -> dict[str, Any]:
    """Trial count, the grid's axes and a rough compute estimate, for `gradsweep validate`."""
    return {
        "name": spec.name,
        "trials": len(grid.trials),
        "skipped": grid.skipped,
        "axes": dict(spec.axes),
        "fixed": dict(spec.fixed),
        "budget": spec.budget.model_dump(),
        "resources": spec.resources.model_dump(),
        "estimate_cpu_hours": sum(estimate_seconds(t) for t in grid.trials) / 3600,
        "memory_bytes": max(estimate_memory_bytes(t) for t in grid.trials),
        "warnings": warnings(grid),
        "search": _describe_search(spec, grid),
    }


def warnings(grid: Grid) -> list[str]:
    """The grid's trials' one-line warnings (`TrialConfig.warning`), each once."""
    return list(dict.fromkeys(t.warning for t in grid.trials if t.warning is not None))


def _describe_search(spec: SweepSpec, grid: Grid) -> dict[str, Any] | None:
    plan = spec.frontier_plan()
    if plan is None:
        return None
    fewest, most = plan.search([t.model_dump() for t in grid.trials]).bounds()
    return {
        "axis": plan.axis,
        "models": plan.model_fields,
        "majority": plan.majority,
        "lookahead": plan.lookahead,
        "verify": plan.verify,
        "fewest": fewest,
        "most": most,
    }


# Per trial, whatever its size: building the model, tracing the compiled epoch, the probe
# and validation passes. Measured 2026-11-30 with `gradsweep train` (hidden 32, 1,024
# sequences of 8 steps, one epoch, one thread): 3.0 s (rnn) and 4.5 s (exprnn) for that
# epoch on the 2-core machine under a load average of about 6, where the per-sample rates
# alone give 0.03 s; without it the demo's estimate was a third of its measured CPU time.
TRIAL_OVERHEAD_S = 4.5


def estimate_seconds(cfg: TrialConfig) -> float:
    """Upper bound of one trial's CPU time: its fixed cost, then the whole epoch budget,
    no early stop."""
    width = max(1.0, (cfg.hidden / 64) ** 2)
    per_epoch = cfg.train_size * cfg.seq_len * ARCHS[cfg.arch].seconds * width
    return TRIAL_OVERHEAD_S + cfg.max_epochs * per_epoch
