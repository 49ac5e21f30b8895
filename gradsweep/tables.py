"""The typed frames of the results tables: config, summary, epochs and profiles columns.

Each column's pandas dtype comes from its declaration (`TrialConfig`'s annotations, the
`Summary` record): nullable counts and flags, plain float64 measurements. Pure: lists and
Arrow tables in, DataFrames out.
"""

from __future__ import annotations

import typing
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gradsweep.config import TABLE_FIELDS, TrialConfig
from gradsweep.records import EPOCH_FIELDS, SUMMARY_FIELDS, Summary

CONFIG_FIELDS = list(TABLE_FIELDS)
EPOCH_COLUMNS = [f for f in EPOCH_FIELDS if f != "grad_profile"]


def _dtype(annotation: Any) -> str:
    """The nullable pandas dtype for a field annotated `annotation` (int, float, bool, str)."""
    kinds = set(typing.get_args(annotation)) or {annotation}
    if bool in kinds:
        return "boolean"
    if int in kinds:
        return "Int64"
    if float in kinds:
        return "Float64"
    return "string"


CONFIG_DTYPES = {name: _dtype(TrialConfig.model_fields[name].annotation) for name in CONFIG_FIELDS}
_SUMMARY_HINTS = typing.get_type_hints(Summary)
# Final metrics: counts and flags nullable, measurements plain float64 with NaN for missing.
SUMMARY_DTYPES = {
    f.name: {"boolean": "boolean", "Int64": "Int64"}.get(_dtype(_SUMMARY_HINTS[f.name]), "float64")
    for f in fields(Summary)
}


def config_frame(configs: list[dict[str, Any]]) -> pd.DataFrame:
    """The config columns of the trials table, typed from TrialConfig's annotations."""
    # A field an older gradsweep did not write had the value that is its default now
    # (activation tanh, optimizer adam, momentum 0), so it is filled, not left NA.
    defaults = {k: TrialConfig.model_fields[k].default for k in CONFIG_FIELDS}
    frame = pd.DataFrame(
        [{k: c.get(k, defaults[k]) for k in CONFIG_FIELDS} for c in configs],
        columns=CONFIG_FIELDS,
    )
    for name, dtype in CONFIG_DTYPES.items():
        frame[name] = pd.array(frame[name], dtype=dtype)
    return frame


def summary_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(SUMMARY_FIELDS))
    for name, dtype in SUMMARY_DTYPES.items():
        if dtype == "float64":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        else:
            frame[name] = pd.array(frame[name].tolist(), dtype=dtype)
    return frame


def typed_epochs(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"epoch": "int64", "samples_seen": "int64"})
    for column in EPOCH_COLUMNS[2:]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["trial_id"] = frame["trial_id"].astype("string")
    return frame


def profile_frame(rows: list[tuple[str, int, list[float | None]]]) -> pd.DataFrame:
    """Profiles given as (trial id, epoch, one value per input position) into tidy rows."""
    lengths = [len(profile) for _, _, profile in rows]
    positions = np.concatenate([np.arange(n) for n in lengths]) if rows else np.array([])
    return pd.DataFrame(
        {
            "trial_id": pd.array(np.repeat([r[0] for r in rows], lengths), dtype="string"),
            "epoch": np.repeat([r[1] for r in rows], lengths).astype("int64"),
            "position": positions.astype("int64"),
            "step_back": np.concatenate([np.arange(n)[::-1] for n in lengths]).astype("int64")
            if rows
            else np.array([], dtype="int64"),
            "grad": np.array(
                [np.nan if g is None else g for _, _, p in rows for g in p], dtype="float64"
            ),
        }
    )


def epoch_profiles(sub: pa.Table) -> pd.DataFrame:
    """The per-epoch `grad_profile` lists flattened without a Python loop over values."""
    lists = sub.column("grad_profile").combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy()
    parents = pc.list_parent_indices(lists).to_numpy()
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    position = np.arange(len(parents)) - starts
    return pd.DataFrame(
        {
            "trial_id": pd.array(
                sub.column("trial_id").take(parents).to_numpy(zero_copy_only=False),
                dtype="string",
            ),
            "epoch": sub.column("epoch").to_numpy()[parents].astype("int64"),
            "position": position.astype("int64"),
            "step_back": (lengths[parents] - 1 - position).astype("int64"),
            "grad": pc.list_flatten(lists).to_numpy(zero_copy_only=False).astype("float64"),
        }
    )
