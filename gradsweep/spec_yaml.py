"""Spec text to plain data, read as YAML 1.2 (and so JSON) reads it; the one spec reader.

PyYAML follows YAML 1.1, where `1e-3` is text, `on`/`yes` are booleans, `010` is octal 8
and `1:30` is 90. ruamel.yaml reads YAML 1.2 by default: `1e-3` is 0.001, `on` is text,
`010` is 10, `1:30` is text. What is read is plain data only: mappings with plain keys,
lists, text, numbers, true/false and null. Tags that build other objects (`!!python/...`,
`!!binary`, `!!set`, ...) are refused, a date is text (YAML 1.2's core schema has no
timestamps), a key given twice is refused with its line, and a `%YAML` directive other
than 1.2 is refused rather than followed.

Where a value that YAML 1.1 read as a number or a boolean is text under 1.2, the
validation error that refuses it says so (`explain`).
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import ConstructorError, SafeConstructor
from ruamel.yaml.error import YAMLError

from gradsweep.errors import ConfigError

# Words YAML 1.1 read as booleans and YAML 1.2 reads as text (true/false are both's).
YAML11_BOOLS = frozenset(
    w for word in ("y", "yes", "n", "no", "on", "off") for w in (word, word.title(), word.upper())
)
# YAML 1.1's base-60 numbers (1:30 was 90); text in YAML 1.2.
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_DIRECTIVE = re.compile(r"^%YAML[ \t]+(\S+)", re.MULTILINE)
_PLAIN_TYPES = (dict, list, str, int, float, bool, type(None))
_KEY_TYPES = (str, int, float, bool, type(None))


class _SpecConstructor(SafeConstructor):
    """SafeConstructor for plain data: no duplicate keys, no non-JSON types."""

    def check_mapping_key(self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any):
        if not isinstance(key, _KEY_TYPES):  # ruamel turns a `? [a, b]` key into a tuple
            raise ConstructorError(
                None, None, "a mapping key must be a plain name or number", key_node.start_mark
            )
        if key in mapping:
            line = key_node.start_mark.line + 1
            raise ConfigError(f"{_shown(key)}: given twice (line {line}); each key once", str(key))
        return True

    def construct_yaml_float(self, node: Any) -> Any:
        """A float, or the text as written where ruamel's float pattern is looser than its
        converter (`._` matches the pattern, and float('.') fails): validation then refuses
        the text in one line, naming the field."""
        try:
            return super().construct_yaml_float(node)
        except ValueError:
            return self.construct_scalar(node)

    def construct_not_data(self, node: Any) -> Any:
        raise ConstructorError(
            None,
            None,
            f"the tag {node.tag} is not allowed: a spec is plain data (mappings, lists, text, "
            "numbers, true/false, null)",
            node.start_mark,
        )


_SpecConstructor.add_constructor("tag:yaml.org,2002:float", _SpecConstructor.construct_yaml_float)
# YAML 1.2's core schema has no timestamps: `2026-11-30` is the text it shows.
_SpecConstructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
for _tag in ("binary", "set", "omap", "pairs"):
    _SpecConstructor.add_constructor(
        f"tag:yaml.org,2002:{_tag}", _SpecConstructor.construct_not_data
    )


def load_yaml(raw: bytes | str, source: str = "spec") -> Any:
    """Parse spec text as YAML 1.2 plain data; any problem is a one-line ConfigError."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError(
                f"spec: {source} is not UTF-8 text (byte {err.start}); save it as UTF-8", "spec"
            ) from None
    directive = _DIRECTIVE.search(raw)
    if directive and directive[1] != "1.2":
        raise ConfigError(
            f"spec: {source} asks for %YAML {_shown(directive[1])}: specs are read as YAML 1.2; "
            "remove the directive",
            "spec",
        )
    # A fresh reader each time: ruamel's reader keeps the YAML version of the last document
    # it read (after a `%YAML 1.1` document, `08` came back as the text '08'). Its pure
    # Python parser, not the C one (libyaml, 4x faster here): libyaml parses YAML 1.1's
    # syntax, which refuses `{lr: 1:30}` where YAML 1.2 reads the text '1:30'.
    reader = YAML(typ="safe", pure=True)
    reader.Constructor = _SpecConstructor
    try:
        data = reader.load(raw)
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).strip().splitlines()[0]
        raise ConfigError(f"spec: {source} is not valid YAML{where}: {problem}", "spec") from None
    except RecursionError:
        raise ConfigError(f"spec: {source} is nested too deeply", "spec") from None
    _check_plain(data, source)
    return data


def _check_plain(data: Any, source: str) -> None:
    """Refuse a structure that refers to itself (`&a [*a]`) or holds a non-data type."""
    done: set[int] = set()
    stack: list[tuple[Any, frozenset[int]]] = [(data, frozenset())]
    while stack:
        node, above = stack.pop()
        if not isinstance(node, _PLAIN_TYPES):
            raise ConfigError(
                f"spec: {source} holds a {type(node).__name__}; plain data only", "spec"
            )
        if not isinstance(node, dict | list):
            continue
        if id(node) in above:
            raise ConfigError(f"spec: {source} has an alias that contains itself", "spec")
        if id(node) in done:  # a shared anchor: checked once
            continue
        done.add(id(node))
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, above | {id(node)}) for child in children)


def explain(value: Any, error_type: str = "", null_means_off: bool = False) -> str:
    """Why a refused value was read as it was, or '' when reading is not the reason:
    ' (YAML 1.2 reads on as text, not a boolean: write true or false)'. `error_type` is
    pydantic's (`bool_type`, `int_type`, ...); `null_means_off` for a field where null is off."""
    wanted_scalar = error_type.split("_")[0] in ("bool", "int", "float")
    if isinstance(value, str) and wanted_scalar:
        if value in YAML11_BOOLS:
            if null_means_off:
                return f" (YAML 1.2 reads {value} as text: write off, none or null for off)"
            if error_type.startswith("bool"):
                return f" (YAML 1.2 reads {value} as text, not a boolean: write true or false)"
            return f" (YAML 1.2 reads {value} as text, not a boolean or a number)"
        if _SEXAGESIMAL.fullmatch(value):
            return f" (YAML 1.2 reads {value} as text: it has no base-60 numbers)"
        if _is_number(value):
            return f" (read as text, not as a number: write it as {_number(value)!r})"
    if isinstance(value, float) and error_type.startswith("int") and value.is_integer():
        return f" (a number with a dot or an exponent is a float: write {int(value)})"
    return ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip().lower().lstrip("+-") not in ("inf", "infinity", "nan")


def _number(text: str) -> int | float:
    value = float(text)
    return (
        int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
    )


def _shown(value: Any, limit: int = 60) -> str:
    """A key or word as one printable line."""
    text = value if isinstance(value, str) and value.isprintable() else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
