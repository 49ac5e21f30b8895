"""The trial writer without Ray: what `TrialStore` writes, the readers read back."""

import json

import numpy as np
import pytest

from gradsweep import layout
from gradsweep.config import TrialConfig
from gradsweep.results import load_results
from gradsweep.train import run_trial
from gradsweep.trial_store import TrialStore
from tests.helpers import TINY

WHERE = {"node": "node-a", "pid": 4242, "resources": {"CPU": 1.0}}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One tiny trial trained in process, every epoch recorded by a TrialStore as the
    trainable records it; returns (experiment dir, trial dir name, result, the saved-state
    directories after each epoch, (loaded, saved) states while it ran)."""
    tmp_path = tmp_path_factory.mktemp("store")
    cfg = TrialConfig(**{**TINY, "max_epochs": 3, "checkpoint_every": 1})
    name = layout.trial_dirname(cfg.model_dump(), ("gap",))
    store = TrialStore(str(tmp_path), name, WHERE)
    store.keep_config({"trial": cfg.model_dump()})
    saved, loaded = [], []

    def on_epoch(metrics, state, result):
        store.record(metrics, state, result)
        saved.append(store.saved())
        if result is None:  # what a restarted trial would load now, and what was saved
            loaded.append((store.latest_state(), state))

    result = run_trial(cfg, on_epoch=on_epoch)
    return tmp_path, name, result, saved, loaded


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_records_read_back_into_the_tables(written):
    experiment, name, result, _, _ = written
    loaded = load_results(str(experiment))
    row = loaded.trials.set_index("trial_id").loc[name]
    assert row["status"] == "TERMINATED" and row["node"] == "node-a"
    summary = result.summary()
    for key in ("epochs_run", "solved", "diverged", "samples_seen"):
        assert row[key] == summary[key], key
    for key in ("best_val_acc", "test_acc", "train_loss", "grad_norm_max"):
        assert row[key] == pytest.approx(summary[key], rel=1e-12), key
    epochs = loaded.epochs[loaded.epochs["trial_id"] == name]
    expected = [e.val_acc for e in result.epochs]
    np.testing.assert_allclose(epochs["val_acc"].to_numpy(), expected, rtol=1e-12)
    assert row["gap"] == result.config.gap and row["arch"] == result.config.arch


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_a_finished_trial_keeps_a_final_row_and_no_state(written):
    experiment, name, result, saved, _ = written
    store = TrialStore(str(experiment), name)
    final = store.final()
    assert final["final"]["test_acc"] == pytest.approx(result.test_acc)
    assert final["pid"] == WHERE["pid"] and final["resources"] == WHERE["resources"]
    assert [len(s) for s in saved] == [1, 1, 0]  # one state kept while running, none after
    assert store.latest_state() is None
    lines = (experiment / name / layout.EPOCHS).read_text().splitlines()
    assert json.loads(lines[-1]) == final


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_the_newest_saved_state_is_the_one_loaded(written):
    *_, loaded = written
    assert [(mine.epoch, theirs.epoch) for mine, theirs in loaded] == [(1, 1), (2, 2)]
    mine, theirs = loaded[-1]
    for got, want in zip(
        mine.weights + mine.optimizer, theirs.weights + theirs.optimizer, strict=True
    ):
        np.testing.assert_array_equal(got, want)
    assert mine.rng == theirs.rng and mine.history == theirs.history
