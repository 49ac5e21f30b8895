"""Shared fixtures: tiny configs, a real experiment directory, quiet TensorFlow."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FIXTURES = Path(__file__).parent / "fixtures"


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


@pytest.fixture
def legacy(tmp_path) -> Path:
    """A private copy of `fixtures/legacy_v1`: a real sweep's experiment directory.

    12 tiny recall trials (rnn and gru x gap 2, 4, 5 x clip off/1.0, one seed, 3 epochs)
    written by `gradsweep launch` at commit 5fa948b; the 4 with gap 5 failed on purpose
    (GRADSWEEP_FAULT_RAISE=gap=5, max_failures 0) and have only params.json and error.txt.
    Tune's own files that gradsweep never reads were left out.
    """
    target = tmp_path / "legacy"
    shutil.copytree(FIXTURES / "legacy_v1", target)  # the reader writes its cache inside
    return target


@pytest.fixture
def ray_env(tmp_path_factory, monkeypatch) -> dict:
    """Ray's temporary files under pytest's temporary directory (short: socket paths)."""
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path_factory.mktemp("r")))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    return os.environ.copy()
