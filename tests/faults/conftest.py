"""Fault injection: real processes, real Ray, tiny trials; each test under a minute."""

from __future__ import annotations

import os

import pytest

from tests.helpers import Driver

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
