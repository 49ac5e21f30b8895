"""User-facing input errors: one line naming the field, the bad value and what is allowed."""

from __future__ import annotations

from pydantic import ValidationError


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


def from_validation_error(err: ValidationError, prefix: str = "") -> ConfigError:
    """Turn pydantic's first error into one line: `field: bad value: what is allowed`."""
    first = err.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in first["loc"] if part != "__root__")
    field = ".".join(part for part in (prefix, loc) if part) or "config"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return ConfigError(f"{field}: unknown field", field)
    if first["type"] == "missing":
        return ConfigError(f"{field}: required field is missing", field)
    return ConfigError(f"{field}: {_short(first.get('input'))} is not allowed: {message}", field)
