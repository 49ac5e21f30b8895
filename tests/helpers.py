"""Helpers shared by the tests: hand-built result tables, a written-out loss, sweep specs
and the tools of the tests that drive real processes. Tests import from here, never from
one another (nor from a conftest), so a test file can be read, run and changed alone."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from gradsweep.config import TABLE_FIELDS
from gradsweep.tables import config_frame

FIXTURES = Path(__file__).parent / "fixtures"
# Sizes small enough that a trial trains in about a second (the `tiny` fixture).
TINY = {
    "task": "recall",
    "arch": "rnn",
    "hidden": 8,
    "gap": 3,
    "seq_len": 8,
    "batch_size": 32,
    "train_size": 256,
    "val_size": 128,
    "test_size": 128,
    "probe_size": 32,
    "max_epochs": 2,
    # validation at epoch ends only: in-epoch checks have their own tests, and tracing
    # them would cost every tiny trial here about half a second
    "eval_every": 256,
}

# A small valid spec that spec tests vary.
BASE_SPEC = """
name: t
task: recall
axes:
  arch: [rnn, lstm]
  gap: [2, 4]
  seq_len: gap+3
fixed: {hidden: 8}
"""

# A frontier search's grid: two archs, six gaps, one seed; tiny trials that learn fast.
SEARCH_SPEC = """
name: {name}
task: recall
axes:
  arch: [rnn, gru]
  gap: [1, 2, 4, 8, 16, 24]
  seq_len: gap+2
  seed: [0]
fixed: {{hidden: 8, lr: 0.01, batch_size: 32, train_size: 512, val_size: 128, test_size: 128,
        probe_size: 16}}
budget: {{max_epochs: 3}}
"""


def bce(y, p):
    """Binary cross-entropy per sequence, written out (Keras clips p to [1e-7, 1 - 1e-7])."""
    import tensorflow as tf  # here, so that tests without TensorFlow do not load it

    p = tf.clip_by_value(p, 1e-7, 1 - 1e-7)
    return -tf.reduce_sum(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p), axis=-1)


# --- hand-built result tables with a known shape, for plot, report and analysis tests ---


def trial_tables(
    gaps=(5, 10, 20, 40),
    archs=("rnn", "lstm", "gru"),
    clips=(None, 1.0),
    seeds=(0, 1, 2),
    frontier=None,
    epochs=3,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """trials, epochs, profiles where arch `a` solves every gap up to `frontier[a]`."""
    frontier = frontier or {"rnn": 10, "lstm": 40, "gru": 20}
    rng = np.random.default_rng(0)
    configs, finals, epoch_rows, profile_rows = [], [], [], []
    i = 0
    for arch in archs:
        for gap in gaps:
            for clip in clips:
                for seed in seeds:
                    trial_id = f"t_{i:05d}"
                    i += 1
                    seq_len = gap + 10
                    solved = gap <= frontier[arch]
                    configs.append(
                        {
                            "task": "recall",
                            "arch": arch,
                            "gap": gap,
                            "seq_len": seq_len,
                            "hidden": 32,
                            "clip_norm": clip,
                            "seed": seed,
                            "max_epochs": epochs,
                        }
                    )
                    ratio = 10 ** (-gap / (10 if arch == "rnn" else 40))
                    finals.append(
                        {
                            "trial_id": trial_id,
                            "status": "TERMINATED",
                            "epochs_run": epochs,
                            "samples_seen": epochs * 1000,
                            "train_loss": 0.1,
                            "val_acc": 1.0,
                            "best_val_acc": 1.0 if solved else 0.55,
                            "test_acc": (0.99 if solved else 0.5) + rng.normal(0, 0.005),
                            "test_loss": 0.1,
                            "val_mse": None,  # a classification task
                            "test_mse": None,
                            "grad_norm_mean": 1.0,
                            "grad_norm_max": 2.0 + gap,
                            "grad_norm_first": 0.5 + rng.random(),
                            "clip_fraction": 0.0 if clip is None else 0.3,
                            "signal_grad_ratio": ratio * 10,
                            "spectral_radius": 1.0,
                            "signal_grad_ratio_init": ratio,
                            "spectral_radius_init": 1.0,
                            "solved": solved,
                            "samples_to_solve": 2000 if solved else None,
                            "diverged": False,
                            "wall_s": 1.0,
                            "node": "n1",
                        }
                    )
                    for e in range(1, epochs + 1):
                        epoch_rows.append(
                            {
                                "trial_id": trial_id,
                                "epoch": e,
                                "samples_seen": e * 1000,
                                "val_acc": 0.5 + (0.49 if solved else 0.05) * e / epochs,
                                "val_loss": 0.7 - (0.6 if solved else 0.02) * e / epochs,
                                "grad_norm_mean": 1.0 / e,
                            }
                        )
                    for e in (0, epochs):
                        for position in range(seq_len):
                            step_back = seq_len - 1 - position
                            profile_rows.append(
                                {
                                    "trial_id": trial_id,
                                    "epoch": e,
                                    "position": position,
                                    "step_back": step_back,
                                    "grad": 10 ** (-step_back / 10),
                                }
                            )
    config = config_frame([{k: c[k] for k in TABLE_FIELDS if k in c} for c in configs])
    head = pd.DataFrame(finals)
    trials = pd.concat(
        [head[["trial_id", "status"]], config, head.drop(columns=["trial_id", "status"])], axis=1
    )
    trials["solved"] = trials["solved"].astype("boolean")
    trials["samples_to_solve"] = trials["samples_to_solve"].astype("Int64")
    return trials, pd.DataFrame(epoch_rows), pd.DataFrame(profile_rows)


# --- real processes: a sweep driver, and waiting on files -------------------------------


def wait_for(predicate: Callable[[], object], timeout: float = 120, what: str = "") -> object:
    """Poll a condition on files or processes (nothing here can be awaited directly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or predicate}")


def epochs_of(trial_dir: Path) -> list[dict]:
    path = trial_dir / "epochs.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(p.parent for p in experiment.glob("*/params.json"))


class Driver:
    """`gradsweep` in its own process group, so a test can kill it and all Ray left behind."""

    def __init__(self, args: list[str], env: dict, cwd: Path):
        self.ray_tmpdir = env.get("RAY_TMPDIR")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gradsweep.cli", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 120) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def kill_all(self) -> None:
        """SIGKILL the driver, its process group and every process of its Ray (its
        descendants, and anything started with its RAY_TMPDIR: Ray's workers can outlive
        the group), and wait until all are gone, so none writes to the experiment later."""
        import psutil

        family = []
        with contextlib.suppress(psutil.NoSuchProcess):
            family = psutil.Process(self.proc.pid).children(recursive=True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.ray_tmpdir:
            family += [p for p in psutil.process_iter() if _ray_tmpdir(p) == self.ray_tmpdir]
        for process in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(family, timeout=60)
        self.proc.wait()


def _ray_tmpdir(process) -> str | None:
    """The RAY_TMPDIR a process was started with (None where it cannot be read)."""
    import psutil

    try:
        return process.environ().get("RAY_TMPDIR")
    except (psutil.Error, OSError):
        return None
