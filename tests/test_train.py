import json
import subprocess
import sys

import numpy as np
import pytest

from gradsweep import TrialConfig, TrialState, run_trial, tasks
from gradsweep.errors import ConfigError
from gradsweep.loop import Trainer
from gradsweep.records import strict_json
from gradsweep.train import pin_threads


def _metrics(result):
    """Everything a run measured except wall-clock times."""
    epochs = [{k: v for k, v in vars(e).items() if k != "time_s"} for e in result.epochs]
    summary = {k: v for k, v in result.summary().items() if k != "wall_s"}
    return summary, epochs


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_same_config_same_metrics(tiny):
    a = run_trial(TrialConfig(**tiny))
    b = run_trial(TrialConfig(**tiny))
    assert _metrics(a) == _metrics(b)
    c = run_trial(TrialConfig(**tiny, seed=1))
    assert _metrics(a) != _metrics(c)


@pytest.mark.slow  # a second process imports TensorFlow and trains: about 7 s
def test_fresh_process_gives_identical_metrics(tiny):
    in_process = run_trial(TrialConfig(**tiny))
    args = [f"--{k.replace('_', '-')}={v}" for k, v in tiny.items() if k != "max_epochs"]
    proc = subprocess.run(
        [sys.executable, "-m", "gradsweep.cli", "train", "--json", "--epochs=2", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    other = json.loads(proc.stdout)
    assert other["test_acc"] == in_process.test_acc
    assert [e["train_loss"] for e in other["epochs"]] == [e.train_loss for e in in_process.epochs]
    assert other["epochs"][-1]["grad_profile"] == in_process.epochs[-1].grad_profile


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_one_step_changes_every_weight(tiny):
    trainer = Trainer(TrialConfig(**{**tiny, "train_size": 32}))  # one batch: one step
    before = trainer.model.get_weights()
    trainer.run_epoch(1)
    for old, new in zip(before, trainer.model.get_weights(), strict=True):
        assert np.any(old != new)


@pytest.mark.slow
def test_rnn_solves_gap_5_within_budget():
    cfg = TrialConfig(arch="rnn", gap=5, seq_len=15, max_epochs=10, train_size=2048)
    result = run_trial(cfg)
    assert result.solved and not result.diverged
    assert result.epochs[-1].val_acc >= 0.99
    assert result.samples_to_solve <= 10 * 2048
    assert result.test_acc >= 0.97


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_huge_learning_rate_diverges_without_raising(tiny):
    result = run_trial(TrialConfig(**{**tiny, "lr": 1e38, "max_epochs": 5}))
    assert result.diverged and len(result.epochs) == 1
    json.dumps(strict_json(result.to_dict()), allow_nan=False)


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_planted_nan_diverges_and_serialises(tiny, tmp_path):
    cfg = TrialConfig(**{**tiny, "max_epochs": 4})
    states = []
    run_trial(cfg, on_epoch=lambda m, s, r: states.append(s) if s else None)
    states[0].weights[1][0, 0] = np.nan  # the recurrent kernel
    result = run_trial(cfg, state=states[0])
    assert result.diverged
    assert len(result.epochs) == 2
    text = json.dumps(strict_json(result.to_dict()), allow_nan=False)
    assert json.loads(text)["epochs"][-1]["train_loss"] is None


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_clip_fraction_counts_clipped_steps(tiny):
    clipped = run_trial(TrialConfig(**{**tiny, "clip_norm": 1e-6}))
    free = run_trial(TrialConfig(**tiny))
    assert [e.clip_fraction for e in clipped.epochs] == [1.0, 1.0]
    assert [e.clip_fraction for e in free.epochs] == [0.0, 0.0]
    # norms are measured before clipping: the same first step in both runs
    assert clipped.epochs[0].grad_norm_max > 1e-3


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_epoch_metrics_are_complete(tiny):
    result = run_trial(TrialConfig(**tiny))
    epoch = result.epochs[-1]
    assert len(epoch.grad_profile) == tiny["seq_len"]
    assert all(g >= 0 for g in epoch.grad_profile)
    groups = [
        epoch.grad_norm_input_kernel,
        epoch.grad_norm_recurrent_kernel,
        epoch.grad_norm_bias,
        epoch.grad_norm_head,
    ]
    assert all(g > 0 for g in groups)
    # per-step global norms: the mean of per-group norms is bounded by the global norm mean
    assert max(groups) <= epoch.grad_norm_mean * (1 + 1e-5)
    assert epoch.spectral_radius > 0 and epoch.signal_grad_ratio > 0
    assert result.init["grad_profile"] and len(result.init["grad_profile"]) == tiny["seq_len"]
    assert [e.samples_seen for e in result.epochs] == [256, 512]


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_diagnostics_off_skips_the_probe(tiny):
    result = run_trial(TrialConfig(**tiny, diagnostics=False))
    assert result.epochs[-1].grad_profile is None and result.init == {}
    assert result.epochs[-1].grad_norm_mean > 0  # step norms are always measured


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_resume_from_saved_state_matches_uninterrupted_run(tiny, tmp_path):
    cfg = TrialConfig(**{**tiny, "max_epochs": 4})
    saved = {}

    def keep(metrics, state, _result):
        if state is not None and metrics.epoch == 2:
            state.save(tmp_path / "state")
            saved["epoch"] = state.epoch

    full = run_trial(cfg, on_epoch=keep)
    assert saved["epoch"] == 2
    resumed_epochs = []
    resumed = run_trial(
        cfg,
        state=TrialState.load(tmp_path / "state"),
        on_epoch=lambda m, s, r: resumed_epochs.append(m.epoch),
    )
    assert resumed_epochs == [3, 4]
    assert _metrics(resumed) == _metrics(full)


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_state_is_handed_out_every_checkpoint_every_epochs(tiny):
    cfg = TrialConfig(**{**tiny, "max_epochs": 5, "checkpoint_every": 2})
    seen = []
    run_trial(cfg, on_epoch=lambda m, s, r: seen.append((m.epoch, s is not None, r is not None)))
    assert seen == [
        (1, False, False),
        (2, True, False),
        (3, False, False),
        (4, True, False),
        (5, False, True),
    ]


def test_second_thread_count_in_one_process_is_refused():
    import tensorflow as tf

    tf.constant(1.0) + 1  # TensorFlow's runtime is now initialised and its pools fixed
    current = tf.config.threading.get_intra_op_parallelism_threads()
    with pytest.raises(ConfigError, match="fixed once per process"):
        pin_threads(current + 3)


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_solved_and_samples_to_solve_follow_the_first_epoch_over_the_threshold(tiny):
    base = {**tiny, "max_epochs": 6, "lr": 0.01, "solve_threshold": 1.0}  # checks at epoch ends
    free = run_trial(TrialConfig(**base))
    accs = [e.val_acc for e in free.epochs]
    # an epoch whose validation accuracy is above chance and above every earlier one
    k = next(k for k in range(1, len(accs)) if accs[k] > max(0.5, *accs[:k]))
    solved = run_trial(TrialConfig(**{**base, "solve_threshold": accs[k]}))
    summary = solved.summary()
    assert summary["solved"] and summary["epochs_run"] == k + 1  # stopped where it crossed
    assert summary["samples_to_solve"] == (k + 1) * tiny["train_size"]
    assert summary["best_val_acc"] == accs[k] == summary["val_acc"]
    # stopped by the budget at epoch 1, below the threshold (accs[0] < accs[k]): not solved
    missed = run_trial(TrialConfig(**{**base, "max_epochs": 1})).summary()
    assert not missed["solved"] and missed["samples_to_solve"] is None
    assert missed["epochs_run"] == 1 and missed["best_val_acc"] == accs[0]


@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_validation_and_test_accuracy_are_those_of_the_final_weights(tiny):
    cfg = TrialConfig(**{**tiny, "solve_threshold": 1.0})
    trainer = Trainer(cfg)
    for epoch in (1, 2):
        metrics = trainer.run_epoch(epoch)

    def accuracy(split):
        predicted = trainer.model(split.x).numpy() > 0.5
        return float(np.mean(predicted == (split.y > 0.5)))

    assert metrics.val_acc == pytest.approx(accuracy(trainer.data.val), abs=1e-6)
    test_acc = accuracy(trainer.data.test)
    assert trainer.evaluate_test()[1] == pytest.approx(test_acc, abs=1e-6)
    assert run_trial(cfg).test_acc == pytest.approx(test_acc, abs=1e-6)  # the same run


SMALL = {"train_size": 1024, "val_size": 256, "test_size": 256, "probe_size": 16}


@pytest.mark.slow  # about 2 s
def test_a_small_gru_solves_a_short_adding_problem_and_reports_its_mse():
    cfg = TrialConfig(
        task="adding",
        arch="gru",
        hidden=8,
        seq_len=4,
        lr=0.01,
        batch_size=32,
        max_epochs=60,
        **SMALL,
    )
    result = run_trial(cfg)
    assert result.solved
    summary = result.summary()
    last = result.epochs[-1]
    assert summary["val_mse"] == last.val_loss == last.val_mse < 0.01
    assert summary["test_mse"] == result.test_loss < tasks.get("adding").baseline(4, None).value


@pytest.mark.slow  # about 4 s
def test_an_lstm_beats_the_memoryless_copy_baseline():
    """Copying 10 symbols at 99% takes minutes (see `tasks.Copy.defaults`); a short run
    must at least leave the memoryless strategy's loss and chance accuracy (1/8) behind."""
    cfg = TrialConfig(
        task="copy", arch="lstm", hidden=32, gap=2, lr=0.01, batch_size=32, max_epochs=15, **SMALL
    )
    result = run_trial(cfg)
    baseline = tasks.get("copy").baseline(cfg.seq_len, cfg.gap).value
    assert result.epochs[-1].val_loss < baseline and result.epochs[-1].val_acc > 0.25
    assert result.summary()["val_mse"] is None or np.isnan(result.summary()["val_mse"])
    assert len(result.epochs[-1].grad_profile) == cfg.seq_len


@pytest.mark.slow  # three archs, each trained twice: ~15 s
@pytest.mark.parametrize("arch", ["urnn", "exprnn", "indrnn"])
def test_the_literature_cells_resume_exactly(tiny, tmp_path, arch):
    """Their fixed parts (the uRNN's permutation) come from the seed, the rest from the state."""
    cfg = TrialConfig(**{**tiny, "arch": arch, "max_epochs": 3, "solve_threshold": 1.0})
    saved = {}

    def keep(metrics, state, _result):
        if state is not None and metrics.epoch == 1:
            state.save(tmp_path / "state")
            saved["epoch"] = state.epoch

    full = run_trial(cfg, on_epoch=keep)
    resumed = run_trial(cfg, state=TrialState.load(tmp_path / "state"))
    assert saved["epoch"] == 1
    # strict_json: NaN (a ReLU IndRNN whose probe gradient died is 0/0) compares as null
    assert strict_json(_metrics(resumed)) == strict_json(_metrics(full))


@pytest.mark.slow  # four tiny trials: about 5 s
def test_fresh_data_runs_are_identical_and_a_resume_continues_them_exactly(tiny, tmp_path):
    cfg = TrialConfig(**{**tiny, "max_epochs": 3, "fresh_data": True})
    saved = []
    first = run_trial(cfg, on_epoch=lambda m, s, r: saved.append(s) if m.epoch == 1 else None)
    assert _metrics(run_trial(cfg)) == _metrics(first)
    saved[0].save(tmp_path / "state")
    resumed = run_trial(cfg, state=TrialState.load(tmp_path / "state"))
    assert _metrics(resumed) == _metrics(first)
    fixed = run_trial(TrialConfig(**{**tiny, "max_epochs": 3}))
    # the first epoch starts from the same weights on other sequences
    assert first.epochs[0].train_loss != fixed.epochs[0].train_loss


def _graphs_alive() -> int:
    """TensorFlow graphs (the default one and every traced FuncGraph) still referenced."""
    import gc

    import tensorflow as tf

    gc.collect()
    return sum(isinstance(o, tf.Graph) for o in gc.get_objects())


@pytest.mark.slow  # two tiny trials: about 3 s
def test_a_finished_trial_leaves_no_traced_graph_alive(tiny):
    """What a reused worker's memory grew by (about 7 MiB a trial): each trace's FuncGraphs
    kept alive after the trial. The second trial is counted, so that what the first one
    set up once per process (and keeps) is not. Adam, SGD and RMSprop share the optimizer
    path that kept them (`loop.apply_update`)."""
    cfg = TrialConfig(**{**tiny, "max_epochs": 1})
    run_trial(cfg)
    before = _graphs_alive()
    run_trial(cfg.model_copy(update={"seed": 1}))
    assert _graphs_alive() == before
