"""The trial's records: the one list of summary fields, its reductions, strict JSON."""

import json
import math
from dataclasses import asdict

import numpy as np
import pytest

from gradsweep import TrialConfig, TrialState
from gradsweep.records import (
    EPOCH_FIELDS,
    SUMMARY_FIELDS,
    EpochMetrics,
    TrialResult,
    strict_json,
    summarize_epochs,
)


def epoch(n: int, **values) -> EpochMetrics:
    defaults = dict.fromkeys(EPOCH_FIELDS, 0.0) | {"epoch": n, "samples_seen": 100 * n}
    return EpochMetrics(**(defaults | {"grad_profile": None} | values))


def result(epochs, **values) -> TrialResult:
    fields = {
        "solved": False,
        "samples_to_solve": None,
        "diverged": False,
        "test_acc": 0.5,
        "test_loss": 0.7,
        "wall_s": 1.0,
        "init": {"signal_grad_ratio": 0.01, "spectral_radius": 1.0},
    }
    return TrialResult(config=TrialConfig(), epochs=epochs, **(fields | values))


def test_summary_has_exactly_the_summary_fields_computed_by_hand():
    epochs = [
        epoch(1, val_acc=0.6, grad_norm_mean=2.0, grad_norm_max=5.0, clip_fraction=0.5),
        epoch(2, val_acc=0.9, grad_norm_mean=1.0, grad_norm_max=3.0, clip_fraction=0.0),
        epoch(3, val_acc=0.8, grad_norm_mean=3.0, grad_norm_max=4.0, clip_fraction=0.25,
              signal_grad_ratio=0.3, spectral_radius=1.1, train_loss=0.2),
    ]  # fmt: skip
    summary = result(epochs, solved=True, samples_to_solve=200).summary()
    assert tuple(summary) == SUMMARY_FIELDS
    assert summary["epochs_run"] == 3 and summary["samples_seen"] == 300
    assert summary["val_acc"] == 0.8 and summary["best_val_acc"] == 0.9
    assert summary["grad_norm_mean"] == pytest.approx(2.0)  # (2 + 1 + 3) / 3
    assert summary["grad_norm_max"] == 5.0 and summary["grad_norm_first"] == 2.0
    assert summary["clip_fraction"] == pytest.approx(0.25)  # (0.5 + 0 + 0.25) / 3
    assert summary["signal_grad_ratio"] == 0.3 and summary["spectral_radius"] == 1.1
    assert summary["train_loss"] == 0.2 and summary["signal_grad_ratio_init"] == 0.01
    assert summary["solved"] and summary["samples_to_solve"] == 200


def test_a_non_finite_step_is_not_hidden_by_an_earlier_finite_one():
    epochs = [epoch(1, grad_norm_max=5.0), epoch(2, grad_norm_max=math.nan)]
    assert math.isnan(result(epochs).summary()["grad_norm_max"])
    epochs = [epoch(1, grad_norm_max=math.nan), epoch(2, grad_norm_max=5.0)]
    assert math.isnan(result(epochs).summary()["grad_norm_max"])


def test_summarize_epochs_reads_json_rows_with_nulls():
    rows = [asdict(epoch(1, val_acc=0.7)), asdict(epoch(2, val_acc=0.6)) | {"train_loss": None}]
    partial = summarize_epochs(rows)
    assert partial["epochs_run"] == 2 and partial["best_val_acc"] == 0.7
    assert math.isnan(partial["train_loss"])
    assert summarize_epochs([])["epochs_run"] is None


def test_strict_json_replaces_non_finite_numbers():
    value = {"a": [1.0, math.inf, {"b": math.nan}], "c": (-math.inf, 2)}
    assert strict_json(value) == {"a": [1.0, None, {"b": None}], "c": [None, 2]}
    json.dumps(strict_json(value), allow_nan=False)


def test_state_round_trips_through_its_files(tmp_path):
    state = TrialState(
        epoch=2,
        weights=[np.arange(6, dtype=np.float32).reshape(2, 3)],
        optimizer=[np.array([1.5])],
        rng={"state": 7},
        history=[{"epoch": 1}],
        init={"spectral_radius": 1.0},
    )
    state.save(tmp_path)
    loaded = TrialState.load(tmp_path)
    np.testing.assert_array_equal(loaded.weights[0], state.weights[0])
    assert (loaded.epoch, loaded.rng, loaded.history, loaded.init) == (
        2,
        {"state": 7},
        [{"epoch": 1}],
        {"spectral_radius": 1.0},
    )
