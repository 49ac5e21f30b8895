"""A sweep spec's grid: its values checked where the spec writes them, the product of its
axes expanded into validated trial configs, and no two grid points the same trial config.

`spec.SweepSpec` is what is expanded (`GridSpec` names what is read of it, so that this
module need not import `spec`). Every error is a `ConfigError` of one line naming the path
as the spec writes it (`axes.gap[2]`, `axes.models[1].hidden`), the bad value and what is
allowed. Nothing here imports TensorFlow or Ray.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from gradsweep import archs
from gradsweep.config import NULL_MEANS_OFF, TrialConfig
from gradsweep.errors import ConfigError, field_path, from_validation_error
from gradsweep.spec_yaml import explain

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


class GridSpec(Protocol):
    """What expansion reads of a `spec.SweepSpec`."""

    task: str | None
    axes: dict[str, Any]
    fixed: dict[str, Any]
    budget: BaseModel
    skip_infeasible: bool


def refusal(
    err: ValidationError,
    prefix: str = "",
    at: str | None = None,
    model: type[BaseModel] | None = None,
) -> ConfigError:
    """`from_validation_error`'s line (an unknown key of `model` with the closest known
    one), plus why the value was read as it was where YAML 1.2's reading is the likely
    cause (`on` is text, `1e4` a float)."""
    line = from_validation_error(err, prefix, at, model)
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


def _check_values(spec: GridSpec) -> None:
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


def _written_values(spec: GridSpec) -> Iterator[tuple[str, str, Any]]:
    """Every config value the spec writes: its path, its field and the value."""
    for key, values in spec.axes.items():
        if key == MODELS_AXIS:
            for i, model in enumerate(values):
                yield from ((field_path("axes", key, i, k), k, v) for k, v in model.items())
        elif not isinstance(values, str):  # a seq_len expression is checked on its own
            yield from ((field_path("axes", key, i), key, v) for i, v in enumerate(values))
    yield from ((field_path("fixed", key), key, value) for key, value in spec.fixed.items())


def _paths(spec: GridSpec, names: list[str], combo: tuple[int, ...]) -> dict[str, str]:
    """Where the spec writes each config value of one grid point (`axes.gap[2]`,
    `axes.models[1].hidden`, `fixed.lr`, `budget.max_epochs`, `task`)."""
    paths = {key: field_path("budget", key) for key in spec.budget.model_dump()}
    if isinstance(spec.axes.get("seq_len"), str):  # an expression of gap
        paths["seq_len"] = "axes.seq_len"
    paths |= {key: field_path("fixed", key) for key in spec.fixed}
    for key, i in zip(names, combo, strict=True):
        if key == MODELS_AXIS:
            paths |= {k: field_path("axes", key, i, k) for k in spec.axes[key][i]}
        else:
            paths[key] = field_path("axes", key, i)
    return paths


def expand(spec: GridSpec) -> Grid:
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
    spec: GridSpec, names: list[str], trials: list[TrialConfig], origins: list[tuple[int, ...]]
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
    spec: GridSpec,
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


def _item(spec: GridSpec, axis: str, at: int) -> str:
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
