"""A spec's `search` block: its settings, and the checked plan a frontier search runs.

A frontier walks each model up the levels of one axis and stops at the first level it
fails, so the axis must be one whose larger values are harder: a task's dependency length
(`gap` or `seq_len`; the spec's task's by default), swept, with numeric levels. Anything
else is refused in one line: an axis the walk could not order (`arch`, a `null` clip, the
seed), and a numeric one whose order is not one of difficulty (`lr`, `hidden`,
`recurrent_gain`: a model can fail at a middle value and learn above it, and the walk
would stop there). Nothing here imports TensorFlow or Ray.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from gradsweep.errors import ConfigError
from gradsweep.frontier_search import FrontierSearch
from gradsweep.tasks import TASK_DEFS

# The axes where larger is harder for every model: the tasks' dependency lengths (gap for
# recall and copy, seq_len for sum_sign and adding), the question a frontier answers.
FRONTIER_AXES = tuple(dict.fromkeys(task.dependency_axis for task in TASK_DEFS.values()))


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


def check_axis(axis: str, axes: dict[str, Any], model_keys: list[str]) -> None:
    """Refuse, in one line, a frontier axis that is not a swept numeric field with two or
    more numeric levels. `axes` are the spec's; `model_keys` the fields its models set."""

    def refuse(why: str) -> ConfigError:
        return ConfigError(f"search.axis: {axis!r} is not allowed: {why}", "search.axis")

    usable = ", ".join(k for k, v in axes.items() if k != "seed" and _levels(k, v)) or "none"
    if axis == "seed":
        raise refuse(f"seeds repeat a level, they are not levels; this spec can search: {usable}")
    if axis not in FRONTIER_AXES:
        raise refuse(
            "a frontier walks up an axis where larger is harder for every model, a "
            f"dependency length: {' or '.join(sorted(FRONTIER_AXES))}; this spec can search: "
            f"{usable}"
        )
    if axis in model_keys:
        raise refuse("it is set inside models; give its levels as an axis of their own")
    if axis not in axes:
        raise refuse(f"it must be a swept axis; this spec can search: {usable}")
    values = axes[axis]
    if isinstance(values, str):
        raise ConfigError(
            f"search.axis: {axis} is an expression of gap here; search over gap", "search.axis"
        )
    odd = [v for v in values if not _number(v)]
    if odd:
        shown = "null" if odd[0] is None else repr(odd[0])
        raise ConfigError(
            f"search.axis: {axis!r} is not allowed: axes.{axis} lists {shown}, and a "
            "frontier's levels must be numbers, ordered from easy to hard",
            "search.axis",
        )
    if len(values) < 2:
        raise ConfigError(
            f"search.axis: {axis} has one value ({values[0]!r}); a frontier needs at least "
            "two levels",
            "search.axis",
        )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _levels(axis: str, values: Any) -> bool:
    """Whether an axis could be a frontier's: numeric, two or more levels, all numbers."""
    return (
        axis in FRONTIER_AXES
        and isinstance(values, list)
        and len(values) >= 2
        and all(map(_number, values))
    )
