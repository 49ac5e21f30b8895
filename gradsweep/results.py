"""An experiment directory into tidy pandas DataFrames, without a running Ray.

`load_results(name_or_path)` reads every trial's `params.json` and `epochs.jsonl` (one line
per epoch, written by the sweep layer; Tune's `result.json` where that is missing) and the
statuses Tune recorded in its experiment state (plain JSON; nothing is unpickled), and
returns `ResultSet.trials`, `.epochs` and `.profiles`. The tables are cached as parquet next
to the experiment and rebuilt when a trial changes.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gradsweep.errors import ConfigError
from gradsweep.train import EPOCH_FIELDS, TrialConfig

log = logging.getLogger(__name__)

CACHE_DIR = ".gradsweep-cache"
# gradsweep's own record of a trial, one JSON line per epoch, written by the sweep layer's
# trainable. Tune's result.json is not enough: a trial Tune restores as PENDING gets a new,
# empty result.json (measured with Ray 2.60 after a driver kill: finished epochs were gone).
EPOCHS = "epochs.jsonl"
CACHE_VERSION = 1
MANIFEST = "gradsweep.json"
STATUSES = ("TERMINATED", "ERROR", "RUNNING", "PENDING", "PAUSED")
CONFIG_FIELDS = [f for f in TrialConfig.model_fields if f != "threads"]
FINAL_FIELDS = [
    "epochs_run",
    "samples_seen",
    "train_loss",
    "val_acc",
    "best_val_acc",
    "test_acc",
    "test_loss",
    "grad_norm_mean",
    "grad_norm_max",
    "grad_norm_first",
    "clip_fraction",
    "signal_grad_ratio",
    "spectral_radius",
    "signal_grad_ratio_init",
    "spectral_radius_init",
    "solved",
    "samples_to_solve",
    "diverged",
    "wall_s",
]
EPOCH_COLUMNS = [f for f in EPOCH_FIELDS if f != "grad_profile"]


@dataclass
class ResultSet:
    """The tidy tables of one experiment; `profiles` is read on first use."""

    path: str
    trials: pd.DataFrame
    epochs: pd.DataFrame
    _profiles: pd.DataFrame | None = field(default=None, repr=False)
    _loader: Any = field(default=None, repr=False)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def profiles(self) -> pd.DataFrame:
        """One row per trial, epoch and input position (epoch 0 = before training)."""
        if self._profiles is None:
            self._profiles = self._loader()
        return self._profiles


def experiment_path(name_or_path: str, storage: str | None = None) -> Path:
    """NAME is a path when it contains '/' or names an existing directory; else storage/NAME."""
    if "/" in name_or_path or Path(name_or_path).is_dir():
        path = Path(name_or_path).expanduser()
    else:
        path = Path(storage or "results").expanduser() / name_or_path
    if not path.is_dir():
        raise ConfigError(
            f"experiment: {str(path)!r} is not an experiment directory "
            "(give a name under --storage, or a path)",
            "experiment",
        )
    return path.resolve()


def _trial_dirs(path: Path) -> list[Path]:
    return sorted(p.parent for p in path.glob("*/params.json"))


def read_statuses(path: Path) -> dict[str, str]:
    """Trial id -> status from Tune's newest experiment state (JSON fields only)."""
    states = sorted(glob.glob(str(path / "experiment_state-*.json")))
    if not states:
        return {}
    try:
        data = json.loads(Path(states[-1]).read_text())
    except (OSError, json.JSONDecodeError):
        log.warning(
            "unreadable experiment state %s; statuses inferred from trial files", states[-1]
        )
        return {}
    return statuses_of(data)


def statuses_of(state: dict[str, Any]) -> dict[str, str]:
    """Trial id -> status from a parsed experiment state: each trial's own JSON, whose other
    fields (some of them pickled by Tune) are left alone."""
    statuses = {}
    for trial_json, _runtime in state.get("trial_data", []):
        trial = json.loads(trial_json)
        statuses[trial["trial_id"]] = trial["status"]
    return statuses


def _read_trial(directory: Path) -> dict[str, Any]:
    """params.json and the result.json lines of one trial directory."""
    by_epoch: dict[int, dict[str, Any]] = {}
    result_file = directory / EPOCHS
    if not result_file.exists():  # not written by gradsweep's trainable: Tune's own log
        result_file = directory / "result.json"
    if result_file.exists():
        for line in result_file.read_text().splitlines():
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a crash
                    break
                # A resumed trial may report an epoch again: the last report of it counts.
                by_epoch[row.get("epoch", len(by_epoch) + 1)] = row
    lines = [by_epoch[e] for e in sorted(by_epoch)]
    return {
        "trial_id": directory.name,
        "config": _read_params(directory),
        "rows": lines,
        "error": (directory / "error.txt").exists(),
    }


def _fingerprint(path: Path) -> dict[str, Any]:
    """What the cache depends on: sizes and times of every trial file and of Tune's state."""
    files = sorted(
        glob.glob(str(path / "*" / EPOCHS))
        + glob.glob(str(path / "*" / "result.json"))
        + glob.glob(str(path / "*" / "error.txt"))
        + glob.glob(str(path / "experiment_state-*.json"))
    )
    stats = []
    for name in files:
        try:
            st = os.stat(name)
        except FileNotFoundError:
            continue
        stats.append([os.path.relpath(name, path), st.st_size, st.st_mtime_ns])
    return {"version": CACHE_VERSION, "files": stats}


def _config_frame(configs: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [{k: c.get(k) for k in CONFIG_FIELDS} for c in configs], columns=CONFIG_FIELDS
    )
    for name in CONFIG_FIELDS:
        annotation = str(TrialConfig.model_fields[name].annotation)
        if "int" in annotation:
            frame[name] = pd.array(frame[name], dtype="Int64")
        elif "float" in annotation:
            frame[name] = pd.array(frame[name], dtype="Float64")
        elif "bool" in annotation:
            frame[name] = pd.array(frame[name], dtype="boolean")
        else:
            frame[name] = pd.array(frame[name], dtype="string")
    return frame


def _finite_or_nan(value: Any) -> Any:
    return np.nan if value is None else value


def _build(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, Callable[[], pd.DataFrame]]:
    """The trials and epochs tables, and a function that makes the profiles table."""
    directories = _trial_dirs(path)
    statuses = read_statuses(path)
    fast = _build_columnar(directories, statuses)
    if fast is not None:
        return fast
    trials, epochs, profiles = _build_rows(directories, statuses)
    return trials, epochs, lambda: profiles


def _build_rows(directories: list[Path], statuses: dict[str, str]):
    """Parse every trial line by line in Python: any log, damaged or Tune's own."""
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        trials = list(pool.map(_read_trial, directories))
    trial_rows, epoch_rows, profile_rows = [], [], []
    for trial in trials:
        rows = trial["rows"]
        final = rows[-1].get("final") if rows else None
        status = statuses.get(trial["trial_id"])
        if status is None:  # no Tune state: infer from the files
            status = "TERMINATED" if final else "ERROR" if trial["error"] else "RUNNING"
        summary = dict(final or _partial_summary(rows))
        summary["node"] = rows[-1].get("node") if rows else None
        trial_rows.append({"trial_id": trial["trial_id"], "status": status, **summary})
        seq_len = trial["config"].get("seq_len")
        init_profile = (final or {}).get("grad_profile_init")
        if init_profile:
            profile_rows.append((trial["trial_id"], 0, init_profile, seq_len))
        for row in rows:
            epoch_rows.append(
                {"trial_id": trial["trial_id"], **{k: row.get(k) for k in EPOCH_COLUMNS}}
            )
            if row.get("grad_profile"):
                profile_rows.append((trial["trial_id"], row["epoch"], row["grad_profile"], seq_len))
    head = pd.DataFrame(trial_rows, columns=["trial_id", "status", *FINAL_FIELDS, "node"])
    trials_df = _trials_frame(head, [t["config"] for t in trials])
    epochs_df = _typed_epochs(pd.DataFrame(epoch_rows, columns=["trial_id", *EPOCH_COLUMNS]))
    return trials_df, epochs_df, _profile_frame(profile_rows)


def _trials_frame(head: pd.DataFrame, configs: list[dict[str, Any]]) -> pd.DataFrame:
    """trial_id and status, the config columns, then the final metrics and node."""
    frame = pd.concat(
        [
            head[["trial_id", "status"]],
            _config_frame(configs),
            head.drop(columns=["trial_id", "status"]),
        ],
        axis=1,
    )
    return _typed_finals(frame)


def _typed_epochs(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"epoch": "int64", "samples_seen": "int64"})
    for column in EPOCH_COLUMNS[2:]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["trial_id"] = frame["trial_id"].astype("string")
    return frame


def _build_columnar(directories: list[Path], statuses: dict[str, str]):
    """The fast path for gradsweep's own logs: every `epochs.jsonl` in one buffer, parsed by
    Arrow's multithreaded JSON reader; None when a trial lacks one or a line is damaged."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pajson

    files = [d / EPOCHS for d in directories]
    if not files or not all(file.exists() for file in files):
        return None
    chunks = []
    for file in files:
        data = file.read_bytes()
        chunks.append(data if data.endswith(b"\n") or not data else data + b"\n")
    try:
        table = pajson.read_json(pa.BufferReader(b"".join(chunks)))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        log.info("columnar read failed (%s); parsing line by line", err)
        return None
    if table.num_rows == 0 or "trial_id" not in table.column_names:
        return None
    plain = [c for c in ("trial_id", *EPOCH_COLUMNS, "node") if c in table.column_names]
    rows = table.select(plain).to_pandas()
    rows["_row"] = np.arange(len(rows))
    # A resumed trial may report an epoch again: the last report of it counts.
    rows = rows.drop_duplicates(["trial_id", "epoch"], keep="last").sort_values(
        ["trial_id", "epoch"], kind="stable"
    )
    epochs = _typed_epochs(
        rows.reindex(columns=["trial_id", *EPOCH_COLUMNS]).reset_index(drop=True)
    )
    last = rows.groupby("trial_id", sort=False).tail(1)
    finals = (
        table.column("final").take(pa.array(last["_row"].to_numpy())).to_pylist()
        if "final" in table.column_names
        else [None] * len(last)
    )
    by_trial = {}
    partial = _partial_summaries(epochs)
    for (trial_id, node), final in zip(
        last[["trial_id", "node"]].itertuples(index=False), finals, strict=True
    ):
        summary = dict(final) if final else partial.get(trial_id, {})
        summary.pop("grad_profile_init", None)
        by_trial[trial_id] = {**summary, "node": node, "_final": final is not None}
    configs, trial_rows, init_profiles = [], [], []
    for directory in directories:
        trial_id = directory.name
        configs.append(_read_params(directory))
        info = by_trial.get(trial_id, {"_final": False})
        status = statuses.get(trial_id)
        if status is None:
            error = (directory / "error.txt").exists()
            status = "TERMINATED" if info["_final"] else "ERROR" if error else "RUNNING"
        trial_rows.append(
            {
                "trial_id": trial_id,
                "status": status,
                **{k: v for k, v in info.items() if k != "_final"},
            }
        )
    head = pd.DataFrame(trial_rows, columns=["trial_id", "status", *FINAL_FIELDS, "node"])
    trials = _trials_frame(head, configs)
    if "final" in table.column_names:
        for (trial_id,), final in zip(
            last[["trial_id"]].itertuples(index=False), finals, strict=True
        ):
            if final and final.get("grad_profile_init"):
                init_profiles.append((trial_id, final["grad_profile_init"]))
    kept = pa.array(rows["_row"].to_numpy())

    def profiles() -> pd.DataFrame:
        if "grad_profile" not in table.column_names:
            return _profile_frame([])
        sub = table.select(["trial_id", "epoch", "grad_profile"]).take(kept)
        lists = sub.column("grad_profile").combine_chunks()
        lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy()
        parents = pc.list_parent_indices(lists).to_numpy()
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        position = np.arange(len(parents)) - starts
        frame = pd.DataFrame(
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
        init = _profile_frame([(t, 0, p, None) for t, p in init_profiles])
        return pd.concat([init, frame], ignore_index=True).sort_values(
            ["trial_id", "epoch", "position"], kind="stable", ignore_index=True
        )

    return trials, epochs, profiles


def _read_params(directory: Path) -> dict[str, Any]:
    params = json.loads((directory / "params.json").read_text())
    return params.get("trial", params)


def _partial_summaries(epochs: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """For trials without a final report: what their epochs so far say (vectorised)."""
    grouped = epochs.groupby("trial_id", sort=False)
    frame = pd.DataFrame(
        {
            "epochs_run": grouped.size(),
            "samples_seen": grouped["samples_seen"].last(),
            "train_loss": grouped["train_loss"].last(),
            "val_acc": grouped["val_acc"].last(),
            "best_val_acc": grouped["val_acc"].max(),
            "grad_norm_mean": grouped["grad_norm_mean"].mean(),
            "grad_norm_max": grouped["grad_norm_max"].max(),
            "grad_norm_first": grouped["grad_norm_mean"].first(),
            "signal_grad_ratio": grouped["signal_grad_ratio"].last(),
            "spectral_radius": grouped["spectral_radius"].last(),
        }
    )
    return frame.to_dict(orient="index")


def _partial_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """For a trial without a final report: what its epochs so far say."""
    if not rows:
        return {}
    last = rows[-1]
    norms = [r.get("grad_norm_mean") for r in rows if r.get("grad_norm_mean") is not None]
    return {
        "epochs_run": len(rows),
        "samples_seen": last.get("samples_seen"),
        "train_loss": last.get("train_loss"),
        "val_acc": last.get("val_acc"),
        "best_val_acc": max((r.get("val_acc") or 0.0) for r in rows),
        "grad_norm_mean": float(np.mean(norms)) if norms else None,
        "grad_norm_max": max((r.get("grad_norm_max") or 0.0) for r in rows),
        "grad_norm_first": rows[0].get("grad_norm_mean"),
        "signal_grad_ratio": last.get("signal_grad_ratio"),
        "spectral_radius": last.get("spectral_radius"),
    }


def _typed_finals(frame: pd.DataFrame) -> pd.DataFrame:
    for name in FINAL_FIELDS:
        if name in ("solved", "diverged"):
            frame[name] = pd.array(frame[name], dtype="boolean")
        elif name in ("epochs_run", "samples_seen", "samples_to_solve"):
            frame[name] = pd.array(frame[name], dtype="Int64")
        else:
            frame[name] = frame[name].map(_finite_or_nan).astype("float64")
    frame["status"] = frame["status"].astype("string")
    frame["node"] = frame["node"].astype("string")
    frame["trial_id"] = frame["trial_id"].astype("string")
    return frame


def _profile_frame(rows: list[tuple[str, int, list[float], int]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(
            {
                "trial_id": pd.Series(dtype="string"),
                "epoch": pd.Series(dtype="int64"),
                "position": pd.Series(dtype="int64"),
                "step_back": pd.Series(dtype="int64"),
                "grad": pd.Series(dtype="float64"),
            }
        )
    lengths = [len(profile) for _, _, profile, _ in rows]
    positions = np.concatenate([np.arange(n) for n in lengths])
    return pd.DataFrame(
        {
            "trial_id": pd.array(np.repeat([r[0] for r in rows], lengths), dtype="string"),
            "epoch": np.repeat([r[1] for r in rows], lengths).astype("int64"),
            "position": positions.astype("int64"),
            "step_back": np.concatenate([np.arange(n)[::-1] for n in lengths]).astype("int64"),
            "grad": np.array(
                [np.nan if g is None else g for _, _, p, _ in rows for g in p], dtype="float64"
            ),
        }
    )


def _cache_paths(path: Path) -> dict[str, Path]:
    cache = path / CACHE_DIR
    return {name: cache / f"{name}.parquet" for name in ("trials", "epochs", "profiles")} | {
        "key": cache / "key.json"
    }


def _write_atomic_frame(frame: pd.DataFrame, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, target)


def _write_cache(path: Path, key: dict, frames: tuple[pd.DataFrame, ...]) -> None:
    paths = _cache_paths(path)
    try:
        paths["key"].parent.mkdir(exist_ok=True)
        paths["profiles"].unlink(missing_ok=True)  # made again, on first use, from these files
        for name, frame in zip(("trials", "epochs"), frames, strict=True):
            _write_atomic_frame(frame, paths[name])
        tmp = paths["key"].with_name(f".key.json.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(key))
        os.replace(tmp, paths["key"])  # the key last: a half-written cache is never valid
    except OSError as err:  # a read-only copy of an experiment still loads
        log.info("results cache not written in %s: %s", path, err)


def _read_cached(path: Path, key: dict) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    paths = _cache_paths(path)
    try:
        if json.loads(paths["key"].read_text()) != key:
            return None
        return pd.read_parquet(paths["trials"]), pd.read_parquet(paths["epochs"])
    except (OSError, ValueError, json.JSONDecodeError) as err:
        # A truncated or foreign cache file: rebuild from the trial files.
        log.info("results cache in %s unusable (%s); rebuilding", path, err)
        return None


def load_results(name_or_path: str | os.PathLike, storage: str | None = None) -> ResultSet:
    """The tidy tables of an experiment, by name under `storage` or by path.

    Works without Ray, on a copied directory, and on an interrupted sweep (unfinished trials
    are included with their status). A parquet cache makes the second load fast.
    """
    path = experiment_path(str(name_or_path), storage)
    key = _fingerprint(path)
    manifest = _read_manifest(path)
    profiles_file = _cache_paths(path)["profiles"]
    cached = _read_cached(path, key)
    if cached is not None:

        def load_profiles() -> pd.DataFrame:
            try:
                return pd.read_parquet(profiles_file)
            except (OSError, ValueError):  # not made yet, or damaged
                return _cache_profiles(path, _build(path)[2]())

        return ResultSet(str(path), *cached, _loader=load_profiles, manifest=manifest)
    trials, epochs, make_profiles = _build(path)
    _write_cache(path, key, (trials, epochs))
    return ResultSet(
        str(path),
        trials,
        epochs,
        _loader=lambda: _cache_profiles(path, make_profiles()),
        manifest=manifest,
    )


def _cache_profiles(path: Path, profiles: pd.DataFrame) -> pd.DataFrame:
    try:
        _write_atomic_frame(profiles, _cache_paths(path)["profiles"])
    except OSError as err:
        log.info("profiles cache not written in %s: %s", path, err)
    return profiles


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def status_counts(results: ResultSet) -> dict[str, int]:
    """Trials by status, grid points not yet started counted as PENDING."""
    counts = results.trials["status"].value_counts().to_dict()
    expected = results.manifest.get("trials")
    if expected:
        counts["PENDING"] = counts.get("PENDING", 0) + max(0, expected - len(results.trials))
    return {s: int(counts.get(s, 0)) for s in STATUSES if counts.get(s)}


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (sensible at 0/n and n/n)."""
    if n == 0:
        return (np.nan, np.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _t_half_width(std: float, n: int) -> float:
    from scipy import stats

    if n < 2 or not np.isfinite(std):
        return np.nan
    return float(stats.t.ppf(0.975, n - 1) * std / np.sqrt(n))


DEFAULT_METRICS = (
    "test_acc",
    "best_val_acc",
    "grad_norm_first",
    "grad_norm_max",
    "signal_grad_ratio",
    "samples_to_solve",
)


def aggregate(
    trials: pd.DataFrame,
    by: list[str],
    metrics: tuple[str, ...] | list[str] = DEFAULT_METRICS,
) -> pd.DataFrame:
    """Mean, std, 95% t-interval and count of each metric over the rows of each group
    (usually the seeds), and the solved rate with a 95% Wilson interval.

    Groups with NA keys (unclipped trials have `clip_norm` NA) are kept, never dropped.
    Only finished trials (`TERMINATED`) count.
    """
    done = trials[trials["status"] == "TERMINATED"] if "status" in trials else trials
    rows = []
    for key, group in done.groupby(by, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(by, key, strict=True))
        row["n"] = len(group)
        for metric in metrics:
            values = pd.to_numeric(group[metric], errors="coerce").astype("float64").dropna()
            mean = float(values.mean()) if len(values) else np.nan
            std = float(values.std(ddof=1)) if len(values) > 1 else np.nan
            half = _t_half_width(std, len(values))
            row |= {
                f"{metric}_mean": mean,
                f"{metric}_std": std,
                f"{metric}_ci_low": mean - half,
                f"{metric}_ci_high": mean + half,
                f"{metric}_count": len(values),
            }
        if "solved" in group:
            solved = int(group["solved"].fillna(False).astype(bool).sum())
            low, high = wilson_interval(solved, len(group))
            row |= {
                "solved_count": solved,
                "solved_rate": solved / len(group),
                "solved_ci_low": low,
                "solved_ci_high": high,
            }
        rows.append(row)
    out = pd.DataFrame(rows)
    for column in by:  # keep the key columns' dtypes (Int64, Float64 with NA, string)
        if column in done:
            out[column] = out[column].astype(done[column].dtype)
    return out
