"""User-facing input errors: one line naming the field, the bad value and what is allowed."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError


class ConfigError(ValueError):
    """Bad input from a user (a spec, an option, a path); the CLI prints it and exits 2.

    `field` names what was wrong (a dotted path), so a caller can say it in its own terms.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def field_path(*parts: str | int) -> str:
    """A path as a user writes it: names joined by dots, list positions in brackets
    (`axes.gap[2]`, `axes.models[1].hidden`); empty parts are left out."""
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part:
            path += f".{part}" if path else part
    return path


_NOT_SHOWN = "not shown"


def part_error(path: tuple[str | int, ...], message: str, value: Any = _NOT_SHOWN) -> Exception:
    """What a validator of a field that holds mappings (a spec's `axes`) raises about one
    part of it: `from_validation_error` names the part (`path` under the field: `("gap",
    2)` gives `axes.gap[2]`) and shows `value` where given, not pydantic's whole input."""
    context = {"path": path, "message": message}
    if value is not _NOT_SHOWN:
        context["value"] = value
    return PydanticCustomError("part", "{message}", context)


def unknown_field(path: tuple[str | int, ...], allowed: tuple[str, ...]) -> Exception:
    """`part_error` for a key that is not a field: `from_validation_error` says which
    fields are (`allowed`)."""
    return PydanticCustomError("unknown_field", "unknown field", {"path": path, "allowed": allowed})


def unknown(field: str, key: Any, allowed: tuple[str, ...]) -> ConfigError:
    """`field: unknown field; did you mean hidden?` (the closest of `allowed` by
    difflib's ratio, any case), or the allowed names where none is close."""
    by_lower = {name.lower(): name for name in allowed}
    close = difflib.get_close_matches(str(key).lower(), list(by_lower), n=1)
    if close:
        return ConfigError(f"{field}: unknown field; did you mean {by_lower[close[0]]}?", field)
    if not allowed:
        return ConfigError(f"{field}: unknown field", field)
    return ConfigError(f"{field}: unknown field; allowed: {', '.join(allowed)}", field)


def _fields_at(model: type[BaseModel] | None, loc: list[str | int]) -> tuple[str, ...]:
    """The field names of the model found at `loc` under `model` (through fields that
    are models themselves: a spec's `budget`), or () where that is not a model."""
    for part in loc:
        field = model.model_fields.get(part) if model and isinstance(part, str) else None
        inner = field.annotation if field else None
        model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
    return tuple(model.model_fields) if model else ()


def from_validation_error(
    err: ValidationError,
    prefix: str = "",
    at: str | None = None,
    model: type[BaseModel] | None = None,
) -> ConfigError:
    """Turn pydantic's first error into one line: `field: bad value: what is allowed`;
    an unknown key first of all, since it explains a required field that is missing.

    The field is `prefix` and pydantic's location joined (`field_path`), or `at` where the
    caller knows where the user wrote the value (`axes.gap[2]` for a config's `gap`).
    `model`, the model validated, lets an unknown key's line suggest a known one."""
    errors = err.errors(include_url=False)
    unknowns = [e for e in errors if e["type"] in ("extra_forbidden", "unknown_field")]
    first = (unknowns or errors)[0]
    context = first.get("ctx") or {}
    loc = [part for part in first["loc"] if part != "__root__"]
    field = at or field_path(prefix, *loc, *context.get("path", ())) or "config"
    # pydantic names its classes ("a valid dictionary or instance of Budget"): not the user's
    message = re.sub(r" or instance of \w+$", "", first["msg"].removeprefix("Value error, "))
    if first["type"] == "extra_forbidden":
        return unknown(field, loc[-1], _fields_at(model, loc[:-1]))
    if first["type"] == "unknown_field":
        return unknown(field, context["path"][-1], context["allowed"])
    if first["type"] == "missing":
        return ConfigError(f"{field}: required field is missing", field)
    value = first.get("input")
    if first["type"] == "part":
        if "value" not in context:
            return ConfigError(f"{field}: {message}", field)
        value = context["value"]
    return ConfigError(f"{field}: {_short(value)} is not allowed: {message}", field)
