"""What the ground floor knows of each `arch`: `ArchInfo` and the `ARCHS` table.

Imports nothing from gradsweep, so `config.py` (validation, labels, the memory estimate) and
`spec.py` (the compute estimate) read it; the Keras cells live in `models.py` and `cells.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ArchInfo:
    """What the ground floor knows of one `arch`; its Keras cell lives in `models.py` /
    `cells.py`. Adding an arch is one entry here, one builder there, and their tests.

    - `label`: its name in tables and figures.
    - `blocks`: recurrent state and gate blocks per hidden unit (memory estimate).
    - `seconds`: seconds per training sequence and time step on one core (compute estimate;
      how it was measured is said at `ARCHS`).
    - `activations`, `inits`: the `activation` and `recurrent_init` values it takes.
    - `defaults`: config values it implies when a config leaves them out.
    - `gated`: LSTM/GRU: `gate_init` applies; `forget_gate`: `forget_bias` applies.
    - `gain`: `recurrent_gain` can rescale its recurrent matrix.
    """

    label: str
    blocks: int
    seconds: float
    activations: tuple[str, ...] = ("tanh",)
    inits: tuple[str, ...] = ("orthogonal", "glorot_uniform", "identity", "random_normal")
    defaults: dict[str, Any] = field(default_factory=dict)
    gated: bool = False
    forget_gate: bool = False
    gain: bool = True


_GATED_INITS = ("orthogonal", "glorot_uniform", "identity", "random_normal", "orthogonal_fused")
_OWN = {"activation": "modrelu", "recurrent_init": "own"}
_EXP_INITS = ("henaff", "cayley")
_EXP_OWN = {"activation": "modrelu", "recurrent_init": "henaff"}
_IND_OWN = {"activation": "relu", "recurrent_init": "own"}
# Seconds per sample-step measured with `gradsweep train` on this project's 2-core x86 machine
# (hidden 64, seq_len 60, batch 64, diagnostics on): rnn 1.5e-6, lstm 6.5e-6, gru ~5e-6 with
# 2 threads, then x2 for one core and rounded up. urnn, exprnn, indrnn (2026-11-30, on a
# loaded machine, so as ratios of their epoch time to the LSTM's in the same process, times
# the LSTM's 1.3e-5): urnn 1.60x and 1.42x, exprnn 0.68x and 0.22x, indrnn 0.12x and 0.18x
# in two runs (the second is `make bench`'s paired "cell train step vs lstm"); the larger.
ARCHS: dict[str, ArchInfo] = {
    "rnn": ArchInfo("SimpleRNN", 1, 3e-6, activations=("tanh", "relu")),
    "lstm": ArchInfo("LSTM", 4, 1.3e-5, inits=_GATED_INITS, gated=True, forget_gate=True),
    "gru": ArchInfo("GRU", 3, 1e-5, inits=_GATED_INITS, gated=True),
    # Arjovsky, Shah & Bengio 2016: a complex state, so two reals per unit.
    "urnn": ArchInfo("uRNN", 2, 2.1e-5, ("modrelu",), ("own",), _OWN, gain=False),
    # Lezcano-Casado & Martinez-Rubio 2019: henaff is their code's default init.
    "exprnn": ArchInfo("expRNN", 1, 9e-6, ("modrelu",), _EXP_INITS, _EXP_OWN, gain=False),
    # Li et al. 2018: relu, as in their experiments; tanh takes their code's tanh bound.
    "indrnn": ArchInfo("IndRNN", 1, 2.5e-6, ("relu", "tanh"), ("own",), _IND_OWN, gain=False),
}

# The fields that mean something only for some archs, with the ArchInfo flag that says so.
_ONLY_WHERE = {
    "gate_init": "gated",
    "chrono_t_max": "gated",
    "forget_bias": "forget_gate",
    "recurrent_gain": "gain",
}


def applies(field: str, values: dict[str, Any]) -> bool:
    """Whether config field `field` means anything for the model `values` describes (its
    `arch` and, where present, `gate_init` and `clip_norm`): see `inapplicable`."""
    return inapplicable(field, values) is None


def inapplicable(field: str, values: dict[str, Any]) -> str | None:
    """Why config field `field` means nothing for the model `values` describes, or None
    where it applies: `gate_init` not for a SimpleRNN, `recurrent_gain` not for a unitary
    cell, `forget_bias` not under chrono gates (they set that bias themselves),
    `clip_mode` not without clipping. One clause: 'clip_mode applies only where ...'."""
    if field == "forget_bias" and values.get("gate_init") == "chrono":
        return "forget_bias does not apply under gate_init chrono, which sets that bias itself"
    if field == "clip_mode" and "clip_norm" in values and _is_off(values["clip_norm"]):
        return "clip_mode applies only where clip_norm is set, not where it is null (off)"
    arch = values.get("arch")
    flag = _ONLY_WHERE.get(field)
    if flag is None or arch not in ARCHS or getattr(ARCHS[arch], flag):
        return None
    having = ", ".join(name for name, info in ARCHS.items() if getattr(info, flag))
    return f"{field} applies only to {having}, not to {arch}"


def _is_off(value: Any) -> bool:
    """None, NaN or pandas' NA: how a table says "no clipping"."""
    try:
        return value is None or bool(value != value)
    except TypeError:  # pandas' NA: NA != NA is NA, whose truth is ambiguous
        return True
