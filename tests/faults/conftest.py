"""Fault injection: real processes, real Ray, tiny trials; each test under a minute."""

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

import pytest

# Long enough per trial (no early stop) that a fault lands mid-run.
SPEC = """
name: faulty
task: recall
axes:
  arch: [rnn, gru]
  gap: [2, 4, 6]
  seq_len: gap+3
fixed: {hidden: 8, batch_size: 32, train_size: 1024, val_size: 128, test_size: 128,
        probe_size: 32}
budget: {max_epochs: 6, solve_threshold: 1.0}
max_failures: 2
"""


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
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def run_env(ray_tmpdir, tmp_path):
    env = {
        **os.environ,
        "RAY_TMPDIR": ray_tmpdir,
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    (tmp_path / "faulty.yaml").write_text(SPEC)
    drivers: list[Driver] = []

    def start(*args: str) -> Driver:
        driver = Driver(list(args), env, tmp_path)
        drivers.append(driver)
        return driver

    yield start, tmp_path
    for driver in drivers:
        driver.kill_all()
