"""Author-style variations of the shipped specs, as text: the same studies written the ways
people write them. Numbers spelled as people spell them (1e-3, 1.0e-3, 1E-3, .5, 0.50,
1_000, +1, 010, 0x10), a value listed twice in an axis or in models (also as 1 and 1.0, or
as a models entry that spells out a default), a frontier search over every axis and more,
names of 1 to 255 bytes, YAML 1.1's words for booleans, the whole spec as JSON.

Each variant says what was done to it (`kinds`) and whether it should still mean exactly
the shipped spec (`faithful`), so a test can check the outcome, not only that it is clean.
"""

from __future__ import annotations

import copy
import json
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from gradsweep.spec_yaml import load_yaml

SWEEPS = Path(__file__).parent.parent.parent / "sweeps"
MODELS = "models"
# Where a grid is large, its lists are cut so that a case expands in milliseconds.
MOST_VALUES = {"arch": 3, MODELS: 3}
OTHER_VALUES = 2
ALLOWED_NAME = "abcXYZ0189._-"
# The spellings YAML 1.1 read as booleans (and 1.2 as text), and what a user meant by them.
YAML11_WORDS = {True: ["yes", "on", "Yes", "ON", "y"], False: ["no", "off", "No", "OFF", "n"]}


def shipped() -> dict[str, dict[str, Any]]:
    """The shipped specs as data (read by the one spec reader), their lists cut short."""
    specs = {}
    for path in sorted(SWEEPS.glob("*.yaml")):
        spec = load_yaml(path.read_text())
        for axis, values in spec["axes"].items():
            if isinstance(values, list):
                spec["axes"][axis] = values[: MOST_VALUES.get(axis, OTHER_VALUES)]
        specs[path.stem] = spec
    return specs


@dataclass
class Variant:
    """A spec's text and what was done to it."""

    source: str
    text: str
    kinds: list[str] = field(default_factory=list)
    faithful: bool = True  # every change keeps the meaning (same trials as the source)
    name_ok: bool | None = None  # for a new name: whether NAME rules allow it


def spell_int(n: int, rng: random.Random) -> str:
    """An integer as people write it; YAML 1.2 reads every one of these as `n`."""
    forms = [str(n), f"+{n}" if n >= 0 else str(n), f"{n:_}"]
    if n > 0:
        forms += [f"0x{n:x}", f"0o{n:o}", f"0{n}"]  # 010 is 10 in YAML 1.2 (8 in 1.1)
    return rng.choice(forms)


def spell_float(v: float, rng: random.Random) -> str:
    """A float as people write it: 0.001, 1e-3, 1.0e-3, 1E-3, .5, 0.50, +0.5; each one
    YAML 1.2's core schema reads as `v`."""
    text = repr(v)
    digits, exponent = _scientific(v)
    forms = [text, text + "0" if "." in text and "e" not in text else text]
    forms += [f"{digits}e{exponent}", f"{digits}E{exponent}"]
    if "." not in digits:
        forms.append(f"{digits}.0e{exponent}")
    if 0 < v < 1 and "e" not in text:
        forms.append(text[1:])  # .5
    if v > 0:
        forms.append("+" + text)
    return rng.choice(forms)


def _scientific(v: float) -> tuple[str, int]:
    """`v` as mantissa digits and a power of ten: 0.001 -> ('1', -3), 2.5 -> ('2.5', 0)."""
    sign, digits, exponent = Decimal(repr(v)).normalize().as_tuple()
    mantissa = "".join(map(str, digits))
    power = exponent + len(mantissa) - 1
    shown = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return ("-" if sign else "") + shown, power


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.+*-]*")
_WORDS = {"null", "true", "false", "yes", "no", "on", "off", "y", "n", "nan", "inf"}


def render(value: Any, rng: random.Random, respell: bool) -> str:
    """`value` as flow-style YAML; numbers respelled when `respell`."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {render(v, rng, respell)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render(v, rng, respell) for v in value) + "]"
    if value is None:
        return rng.choice(["null", "~", "Null"]) if respell else "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return spell_int(value, rng) if respell else str(value)
    if isinstance(value, float):
        return spell_float(value, rng) if respell else repr(value)
    if isinstance(value, Raw):
        return value.text
    plain = _PLAIN.fullmatch(value) and value.lower() not in _WORDS
    return value if plain else json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Raw:
    """Text written into the spec as is (a YAML 1.1 word, a respelled duplicate)."""

    text: str


def as_text(spec: dict[str, Any], rng: random.Random, respell: bool) -> str:
    """One top-level key a line, the way the shipped specs are written."""
    lines = []
    for key, value in spec.items():
        if key == "axes":
            lines.append("axes:")
            lines += [f"  {k}: {render(v, rng, respell)}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {render(value, rng, respell)}")
    return "\n".join(lines) + "\n"


def duplicate_in_axis(spec: dict[str, Any], rng: random.Random) -> bool:
    """List a value of an axis twice, maybe spelled otherwise (1.0 as 1, 0.001 as 1e-3)."""
    axes = [k for k, v in spec["axes"].items() if isinstance(v, list) and k != MODELS]
    if not axes:
        return False
    axis = rng.choice(axes)
    values = spec["axes"][axis]
    value = rng.choice(values)
    if isinstance(value, float) and value.is_integer() and rng.random() < 0.5:
        value = Raw(str(int(value)))  # 1.0 written 1
    elif isinstance(value, float) and rng.random() < 0.5:
        value = Raw(spell_float(value, rng))
    values.insert(rng.randrange(len(values) + 1), value)
    return True


def duplicate_in_models(spec: dict[str, Any], rng: random.Random) -> None:
    """A models entry twice, or once more with a default spelled out; an arch axis
    becomes a models axis first."""
    axes = spec["axes"]
    if MODELS not in axes:
        arches = axes.pop("arch", None) or [spec.get("fixed", {}).pop("arch", "rnn")]
        axes[MODELS] = [{"arch": a} for a in arches]
    entry = dict(rng.choice(axes[MODELS]))
    defaults = {"recurrent_init": "orthogonal", "optimizer": "adam", "momentum": 0.0}
    if entry.get("arch", "rnn") == "rnn":
        defaults["activation"] = "tanh"
    if entry.get("arch") == "lstm":
        defaults["forget_bias"] = 1.0
    free = [k for k in defaults if k not in entry and k not in axes and k not in spec["fixed"]]
    if free and rng.random() < 0.6:
        key = rng.choice(free)
        entry[key] = defaults[key]
    axes[MODELS].insert(rng.randrange(len(axes[MODELS]) + 1), entry)


def search_axes(spec: dict[str, Any]) -> list[str | None]:
    """Every axis a frontier could be asked to walk: each swept one, each a models entry
    sets, each fixed one, the seed, a field that is not there, and the default."""
    models = [k for m in spec["axes"].get(MODELS, []) for k in m]
    candidates = [*spec["axes"], *models, *spec.get("fixed", {}), "seed", "scale", "colour", None]
    return list(dict.fromkeys(a for a in candidates if a != MODELS))


def frontier_block(axis: str | None, rng: random.Random) -> dict[str, Any]:
    block: dict[str, Any] = {"method": "frontier"}
    if axis is not None:
        block["axis"] = axis
    if rng.random() < 0.4:
        block["majority"] = rng.choice([1, 2, 3])
    if rng.random() < 0.3:
        block["lookahead"] = rng.choice([0, 1, 3])
    if rng.random() < 0.3:
        block["verify"] = rng.choice([True, False])
    return block


def author_name(rng: random.Random) -> tuple[str, bool]:
    """A name of 1 to 255 bytes, and whether launch's name rules allow it (worked out here,
    not by the pattern: at most 128 characters of letters, digits, '.', '_' and '-', not
    starting with '.' or '-')."""
    length = rng.choice([1, 2, 64, 127, 128, 129, 200, 254, 255, rng.randint(1, 255)])
    alphabet = ALLOWED_NAME + ("é/ " if rng.random() < 0.3 else "")
    name = "".join(rng.choice(alphabet) for _ in range(length))
    while len(name.encode()) > 255:
        name = name[:-1]
    ok = len(name) <= 128 and set(name) <= set(ALLOWED_NAME) and name[0] not in ".-"
    return name, ok


def yaml11_word(spec: dict[str, Any], rng: random.Random) -> None:
    """A boolean, or clipping off, written as YAML 1.1 allowed (yes, on, off, ...)."""
    where = rng.choice(["diagnostics", "skip_infeasible", "verify", "clip_norm"])
    if where == "clip_norm":
        spec.setdefault("fixed", {})
        spec["axes"].pop("clip_norm", None)
        spec["fixed"]["clip_norm"] = Raw(rng.choice(YAML11_WORDS[False]))
    elif where == "diagnostics":
        spec.setdefault("fixed", {})["diagnostics"] = Raw(rng.choice(YAML11_WORDS[True]))
    elif where == "skip_infeasible":
        spec["skip_infeasible"] = Raw(rng.choice(YAML11_WORDS[rng.random() < 0.5]))
    else:
        spec["search"] = {"method": "frontier", "verify": Raw(rng.choice(YAML11_WORDS[True]))}


def int_as_float(spec: dict[str, Any], rng: random.Random) -> bool:
    """A whole number of an integer setting written as a float: 8192.0, 8.192e3."""
    fixed = spec.get("fixed", {})
    keys = [k for k, v in fixed.items() if isinstance(v, int) and not isinstance(v, bool)]
    if not keys:
        return False
    key = rng.choice(keys)
    digits, power = _scientific(float(fixed[key]))
    fixed[key] = Raw(rng.choice([f"{fixed[key]}.0", f"{digits}e{power}"]))
    return True


def variant(specs: dict[str, dict], rng: random.Random, search: tuple | None = None) -> Variant:
    """One variation: one to three changes to a shipped spec, or the spec as JSON.
    `search` = (source, axis) forces a frontier search over that axis of that spec."""
    source = search[0] if search else rng.choice(list(specs))
    spec = copy.deepcopy(specs[source])
    out = Variant(source, "")
    if search:
        spec["search"] = frontier_block(search[1], rng)
        out.kinds.append("search")
        out.faithful = False
    elif rng.random() < 0.08:
        out.kinds.append("json")
        out.text = json.dumps(spec, indent=rng.choice([None, 2, "\t"]))
        return out
    else:
        kinds = ["respell", "dup_axis", "dup_model", "search", "name", "yaml11", "int_as_float"]
        for kind in rng.sample(kinds, rng.choice([1, 1, 2, 3])):
            out.kinds.append(kind)
            out.faithful &= kind == "respell"
            if (kind == "dup_axis" and not duplicate_in_axis(spec, rng)) or (
                kind == "int_as_float" and not int_as_float(spec, rng)
            ):
                out.kinds.remove(kind)
            elif kind == "dup_model":
                duplicate_in_models(spec, rng)
            elif kind == "search":
                spec["search"] = frontier_block(rng.choice(search_axes(spec)), rng)
            elif kind == "name":
                spec["name"], out.name_ok = author_name(rng)
            elif kind == "yaml11":
                yaml11_word(spec, rng)
    out.text = as_text(spec, rng, respell="respell" in out.kinds)
    return out
