"""Shared fixtures: tiny configs, quiet TensorFlow."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture
def tiny() -> dict:
    """Sizes small enough that a trial trains in about a second."""
    return {
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
    }


EXPERIMENT_SPEC = """
name: exp
task: recall
axes:
  arch: [rnn, gru]
  gap: [2, 4]
  seq_len: gap+3
  clip_norm: [null, 1.0]
  seed: [0]
fixed: {hidden: 8, batch_size: 32, train_size: 256, val_size: 128, test_size: 128, probe_size: 32}
budget: {max_epochs: 3}
"""


@pytest.fixture(scope="session")
def experiment(tmp_path_factory):
    """A real finished sweep (8 tiny trials on an embedded Ray), built once per session."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("exp")
    (root / "exp.yaml").write_text(EXPERIMENT_SPEC)
    env = {**os.environ, "RAY_TMPDIR": str(tmp_path_factory.mktemp("r"))}
    proc = subprocess.run(
        [sys.executable, "-m", "gradsweep.cli", "launch", "exp.yaml", "--storage", "out"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "out" / "exp"


@pytest.fixture
def copy(experiment, tmp_path):
    """A private copy of the shared experiment, for tests that change files."""
    import shutil

    from gradsweep.results import CACHE_DIR

    target = tmp_path / "exp"
    shutil.copytree(experiment, target)
    shutil.rmtree(target / CACHE_DIR, ignore_errors=True)
    return target
