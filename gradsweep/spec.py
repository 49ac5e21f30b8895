"""Sweep specs: YAML (data only) into a frozen, validated model, and the grid it expands to.

Every error is a `ConfigError` of one line naming the field path, the bad value and what is
allowed. Nothing here imports TensorFlow or Ray.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
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

from gradsweep import tasks
from gradsweep.archs import ARCHS
from gradsweep.config import (
    NULL_MEANS_OFF,
    ROLES,
    SPEC_FIELDS,
    Task,
    TrialConfig,
    estimate_memory_bytes,
)
from gradsweep.errors import ConfigError, from_validation_error
from gradsweep.frontier_search import FrontierSearch

# Tasks whose dependency axis is `gap`; the others' is `seq_len`.
DEPENDENCY_GAP_TASKS = tuple(name for name, task in tasks.TASK_DEFS.items() if task.uses_gap)
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


class Search(BaseModel):
    """How the grid is explored: every point (`grid`), or each model's frontier (`frontier`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    method: Literal["grid", "frontier"] = "grid"
    axis: StrictStr | None = None  # default: the task's dependency axis
    majority: StrictInt | None = Field(None, ge=1)  # default: more than half of the seeds
    lookahead: StrictInt = Field(0, ge=0, le=100)
    verify: StrictBool = False


@dataclass(frozen=True)
class FrontierPlan:
    """A checked frontier search: the axis it walks and what makes a model."""

    axis: str
    model_fields: list[str]
    majority: int
    lookahead: int
    verify: bool

    def search(self, configs: list[dict[str, Any]]) -> FrontierSearch:
        """A fresh search over `configs` (the grid's trial configs)."""
        return FrontierSearch(
            configs, self.axis, self.model_fields, self.majority, self.lookahead, self.verify
        )


AxisValues = Annotated[list[Any], Field(min_length=1)]


class SweepSpec(BaseModel):
    """A sweep: fixed settings, axes whose product is the grid, budget and resources."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr = Field(pattern=NAME_PATTERN)
    task: Task | None = None
    axes: dict[str, AxisValues | str] = Field(min_length=1)
    fixed: dict[str, Any] = Field(default_factory=dict)
    budget: Budget = Budget()
    resources: Resources = Resources()
    max_failures: StrictInt = Field(2, ge=0, le=100)
    skip_infeasible: StrictBool = False
    max_trials: StrictInt = Field(100_000, ge=1, le=10_000_000)
    search: Search = Search()

    @field_validator("axes")
    @classmethod
    def _known_axes(cls, axes: dict[str, Any]) -> dict[str, Any]:
        for key, values in axes.items():
            if key == MODELS_AXIS:
                _check_models(values)
                continue
            _check_field_name(key, "axes")
            if isinstance(values, str) and key != "seq_len":
                raise ValueError(f"axis {key} must be a list of values")
            if isinstance(values, list) and len(set(map(repr, values))) != len(values):
                raise ValueError(f"axis {key} lists a value twice")
        return axes

    @field_validator("fixed")
    @classmethod
    def _known_fixed(cls, fixed: dict[str, Any]) -> dict[str, Any]:
        for key in fixed:
            _check_field_name(key, "fixed")
        return fixed

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
        """Validate a spec given as YAML text."""
        data = load_yaml(raw, source)
        if not isinstance(data, dict):
            raise ConfigError(f"spec: {source} must be a YAML mapping of fields", "spec")
        try:
            spec = cls(**{str(k): v for k, v in data.items()})
        except ValidationError as err:
            raise from_validation_error(err) from None
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
        task = self.task or (self.fixed.get("task") or "recall")
        default = "gap" if task in DEPENDENCY_GAP_TASKS and "task" not in self.axes else "seq_len"
        axis = search.axis or default
        if axis == "seed" or axis not in self.axes:
            swept = ", ".join(k for k in self.axes if k != "seed")
            raise ConfigError(
                f"search.axis: {axis!r} is not allowed: it must be a swept axis other than "
                f"seed ({swept})",
                "search.axis",
            )
        values = self.axes[axis]
        if isinstance(values, str):
            raise ConfigError(
                f"search.axis: {axis} is an expression of gap here; search over gap", "search.axis"
            )
        if len(values) < 2:
            raise ConfigError(
                f"search.axis: {axis} has one value ({values[0]!r}); a frontier needs at least "
                "two levels",
                "search.axis",
            )
        seeds = len(self.axes["seed"]) if "seed" in self.axes else 1
        majority = search.majority if search.majority is not None else seeds // 2 + 1
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

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (for manifests)."""
        return self.model_dump()


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a mapping key given twice (PyYAML keeps the last silently)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep=False):
    keys = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            line = key_node.start_mark.line + 1
            raise ConfigError(f"{key}: given twice (line {line}); each key once", str(key))
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def load_yaml(raw: bytes | str, source: str = "spec") -> Any:
    """Parse YAML as plain data only (no tags that build objects, no duplicate keys)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"spec: {source} is not UTF-8 text (byte {err.start}); save it as UTF-8", "spec"
            ) from None
    try:
        return yaml.load(raw, Loader=_UniqueKeyLoader)  # a SafeLoader: data only
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"spec: {source} is not valid YAML{where}: {problem}", "spec") from None


def _check_models(values: Any) -> None:
    if isinstance(values, str) or not all(isinstance(v, dict) and v for v in values):
        raise ValueError(
            f"axis {MODELS_AXIS} must be a list of mappings of config fields, such as "
            "{arch: rnn, activation: relu, recurrent_init: identity}"
        )
    for model in values:
        for key in model:
            _check_field_name(key, f"axes.{MODELS_AXIS}")


def _model_keys(models: list[dict[str, Any]]) -> list[str]:
    """The fields the entries of a `models` axis set, in first-seen order."""
    return list(dict.fromkeys(key for model in models for key in model))


def _check_field_name(key: Any, section: str) -> None:
    if key in NOT_SPEC_FIELDS:
        raise ValueError(f"{key} belongs in {NOT_SPEC_FIELDS[key]}, not {section}")
    if key not in SPEC_FIELDS:
        raise ValueError(f"unknown field {key!r}; allowed: {', '.join(SPEC_FIELDS)}")


class Grid(BaseModel):
    """An expanded spec: the trial configs to run and the infeasible points skipped."""

    model_config = ConfigDict(frozen=True)
    trials: list[TrialConfig]
    skipped: list[dict[str, Any]]


def _check_values(spec: SweepSpec) -> None:
    """Each axis and fixed value against its TrialConfig field, named by its spec path."""
    models = spec.axes.get(MODELS_AXIS, [])
    sections = [("axes", spec.axes), ("fixed", spec.fixed)]
    sections += [(f"axes.{MODELS_AXIS}[{i}]", model) for i, model in enumerate(models)]
    for section, values in sections:
        for key, value in values.items():
            if section == "axes" and (isinstance(value, str) or key == MODELS_AXIS):
                continue
            field = TrialConfig.model_fields[key]
            adapter = TypeAdapter(Annotated[field.annotation, field])
            for item in value if section == "axes" else [value]:
                if item is None and key not in NULL_MEANS_OFF:
                    raise ConfigError(
                        f"{section}.{key}: null is not allowed: only "
                        f"{', '.join(NULL_MEANS_OFF)} takes null (meaning off)",
                        f"{section}.{key}",
                    )
                try:  # strict: a YAML `true` is not 1, a string is not a number
                    adapter.validate_python(item, strict=True)
                except ValidationError as err:
                    raise from_validation_error(err, f"{section}.{key}") from None
    for i, model in enumerate(models):
        again = sorted(set(model) & (set(spec.axes) | set(spec.fixed)))
        if again:
            raise ConfigError(
                f"axes.{MODELS_AXIS}[{i}].{again[0]}: is also an axis or fixed; give it in "
                "one place",
                f"axes.{MODELS_AXIS}",
            )


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
    trials, skipped = [], []
    for combo in itertools.product(*(spec.axes[k] for k in names)):
        point = dict(zip(names, combo, strict=True))
        point = {**point.pop(MODELS_AXIS, {}), **point}  # a model's fields are its point's
        values = {**base, **point}
        if seq_len_of is not None and values.get("gap") is not None:
            values["seq_len"] = seq_len_of(values["gap"])
        if _infeasible(values):
            skipped.append({k: values.get(k) for k in ("task", "gap", "seq_len")})
            continue
        trials.append(_trial(values, point))
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


def _infeasible(values: dict[str, Any]) -> bool:
    gap, seq_len = values.get("gap"), values.get("seq_len", TrialConfig().seq_len)
    task = values.get("task", "recall")
    return task == "recall" and isinstance(gap, int) and isinstance(seq_len, int) and gap >= seq_len


def _trial(values: dict[str, Any], point: dict[str, Any]) -> TrialConfig:
    """Validate one grid point, naming the spec section that holds the offending value."""
    try:
        return TrialConfig(**values)
    except ValidationError as err:
        field = str(err.errors()[0]["loc"][0]) if err.errors()[0]["loc"] else ""
        section = "axes" if field in point else "fixed"
        if field == "gap" and "gap" not in point and "task" in point:
            section = "axes"
        raise from_validation_error(err, section) from None


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
        "search": _describe_search(spec, grid),
    }


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


def estimate_seconds(cfg: TrialConfig) -> float:
    """Upper bound of one trial's CPU time: the whole epoch budget, no early stop."""
    width = max(1.0, (cfg.hidden / 64) ** 2)
    per_epoch = cfg.train_size * cfg.seq_len * ARCHS[cfg.arch].seconds * width
    return cfg.max_epochs * per_epoch
