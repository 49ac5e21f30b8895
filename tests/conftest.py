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
