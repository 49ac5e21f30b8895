"""Sweep specs: YAML 1.2 (data only, read by `spec_yaml`) into a frozen, validated model:
its sections and keys here, the grid it expands to in `spec_grid`, a search in
`search_plan`.

Every error is a `ConfigError` of one line naming the field path, the bad value and what is
allowed. Nothing here imports TensorFlow or Ray.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
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
    means_off,
)
from gradsweep.errors import (
    ConfigError,
    field_path,
    part_error,
    unknown_field,
)
from gradsweep.frontier_search import default_majority
from gradsweep.search_plan import FrontierPlan, Search, check_axis
from gradsweep.spec_grid import MODELS_AXIS, Grid, expand, refusal
from gradsweep.spec_grid import parse_seq_len as parse_seq_len  # re-exported
from gradsweep.spec_yaml import load_yaml

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"
# Fields a spec may not sweep or fix, and the section that owns each (the budget's, or
# resources', which set threads).
NOT_SPEC_FIELDS = {name: r.section for name, r in ROLES.items() if r.section is not None}


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
            raise refusal(err, model=cls) from None
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
