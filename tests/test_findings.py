"""The report's sentences: one golden sentence per kind of finding, its numbers worked out
by hand from the synthetic tables (`tests.helpers.trial_tables`), whose shape is known:
arch a solves every gap up to frontier[a], with 3 seeds and clipping off or at 1.0."""

import numpy as np
import pandas as pd
import pytest

from gradsweep import findings
from gradsweep.compare import compare, newcombe_interval
from tests.helpers import trial_tables


@pytest.fixture(scope="module")
def default():
    """The default tables: frontier rnn 10, lstm 40, gru 20; gaps 5-40; 3 seeds; 2 clips."""
    return findings.of_trials(trial_tables()[0])


def test_counts_name_the_finished_the_diverged_the_failed_and_the_unfinished():
    trials = trial_tables()[0]
    trials.loc[trials.index[:2], "status"] = "ERROR"
    trials.loc[trials.index[2:5], "status"] = "RUNNING"
    trials.loc[trials.index[10], "diverged"] = True
    # 72 rows: 67 finished, 2 failed, 3 running + 8 of the 80 expected never started
    assert findings.counts_sentence(trials, 80) == (
        "67 of 80 trials finished (1 diverged), 2 failed, 11 not finished."
    )


def test_a_single_seed_is_said_before_any_comparison():
    sentences = findings.of_trials(trial_tables(seeds=(0,))[0])
    assert sentences[1] == (
        "Each grid point ran with a single seed, so every difference below is one "
        "observation, not an estimate; add seeds before drawing conclusions."
    )


def test_nothing_finished_is_said_instead_of_findings():
    trials = trial_tables(seeds=(0,))[0].assign(status="RUNNING")
    assert findings.of_trials(trials)[-1] == (
        "No trial has finished, so there is nothing to compare yet."
    )


def test_a_frontier_cites_its_seeds_the_samples_and_the_level_above(default):
    assert (
        "SimpleRNN · clip off solved gap 10 in 3/3 seeds, median 2000 training sequences "
        "to solve (checked every 4,096); gap 20 failed (0/3 seeds solved), tested up to 40."
        in default
    )  # the tables hold no eval_every: checked once an epoch, as before the checks
    assert (
        "LSTM · clip off solved gap 40 (the largest tested) in 3/3 seeds, median 2000 "
        "training sequences to solve (checked every 4,096)." in default
    )


def test_samples_to_solve_is_cited_with_the_interval_between_checks():
    trials = trial_tables()[0]
    trials["eval_every"] = 100  # in whole minibatches of 64: every 64 sequences
    assert "training sequences to solve (checked every 64);" in findings.of_trials(trials)[3]
    trials["eval_every"] = 512
    assert "training sequences to solve (checked every 512);" in findings.of_trials(trials)[3]


def test_a_model_that_solved_nothing_says_what_was_tested():
    sentences = findings.of_trials(trial_tables(frontier={"rnn": 0, "lstm": 0, "gru": 0})[0])
    assert (
        "SimpleRNN · clip off solved no gap in most seeds (tested gap 5–40; best share 0% "
        "at gap 5)." in sentences
    )


def test_a_level_solved_above_a_failed_one_makes_the_frontier_a_lower_bound():
    trials = trial_tables(clips=(None,))[0]
    rnn = trials["arch"] == "rnn"
    trials.loc[rnn & (trials["gap"] == 10), "solved"] = False
    trials.loc[rnn & (trials["gap"] == 20), "solved"] = True
    assert (
        "SimpleRNN is not monotone in gap: most seeds solved a level above the first one "
        "they failed, so its frontier below is a lower bound." in findings.of_trials(trials)
    )


def test_models_are_ranked_by_frontier(default):
    assert (
        "Frontier by model (largest gap below the first that most seeds failed): "
        "LSTM · clip 1.0 40, LSTM · clip off 40, GRU · clip 1.0 20, GRU · clip off 20, "
        "SimpleRNN · clip 1.0 10, SimpleRNN · clip off 10." in default
    )


def test_the_initial_ratio_is_set_against_the_outcome(default):
    # ratio = 10^(-gap/10) (rnn) or 10^(-gap/40): the 18 unsolved trials hold 1e-2, 1e-4
    # and 1e-1 six times each (median 0.01); the 54 solved ones have median 10^-0.5.
    assert (
        "Before training, the gradient reaching the signal input was a median 0.316 of the "
        "gradient at the last input in trials that went on to solve their task (54), "
        "against 0.01 in those that did not (18)." in default
    )


def test_the_initial_ratio_is_fitted_against_gap_per_init_setting(default):
    # log10 ratio = -gap/10 for rnn: -1 order of magnitude per 10 steps, over 4 gaps x 6
    assert (
        "For SimpleRNN, the initial signal-to-last gradient ratio changed by -1.00 orders "
        "of magnitude per 10 steps of gap (least-squares fit over 24 trials)." in default
    )


def test_the_largest_gradient_norm_is_cited_with_the_median(default):
    # grad_norm_max = 2 + gap: largest 42 (first at rnn unclipped, gap 40, seed 0), named by
    # its model as the frontier groups it (arch and the swept clip); the median of
    # 7, 12, 22 and 42, 18 times each, is (12 + 22) / 2
    assert (
        "The largest pre-clip gradient norm in any step was 42 (SimpleRNN · clip off, gap 40, "
        "seed 0); "
        "the median trial's largest was 17." in default
    )


def test_clipping_is_set_against_no_clipping_per_arch(default):
    # GRU solves gaps 5, 10, 20 of 4 in each of 3 seeds: 9/12 with and without clipping
    trials = trial_tables()[0]
    gru = trials[trials["arch"] == "gru"]
    on, off = gru[gru["clip_norm"].notna()], gru[gru["clip_norm"].isna()]
    assert (
        "GRU: clipping at 1.0 fired in 30% of steps on average; solved 9/12 trials with it "
        f"and 9/12 without; mean test accuracy {on['test_acc'].mean():.3f} against "
        f"{off['test_acc'].mean():.3f}." in default
    )


def test_the_test_loss_is_set_against_the_tasks_baseline():
    trials = trial_tables(clips=(None,))[0]
    trials["task"], trials["gap"] = "adding", pd.NA
    noise = np.random.default_rng(0).normal(0, 0.002, len(trials))
    trials["test_loss"] = np.where(trials["arch"] == "rnn", 0.1, 0.2) + noise
    lines = [line for line in findings.of_trials(trials) if "baseline" in line]
    assert len(lines) == 3  # one per model
    rnn = next(line for line in lines if line.startswith("SimpleRNN"))
    lstm = next(line for line in lines if line.startswith("LSTM"))
    assert rnn.startswith(
        "SimpleRNN: test loss, geometric mean [95% interval] over seeds, against the "
        "baseline (always predicting 1): seq_len 15: "
    )
    assert rnn.count("(below 0.167)") == 4  # adding's baseline: 2 * 1/12
    assert lstm.count("(above 0.167)") == 4 and "seq_len 50: 0.2" in lstm
    trials.loc[trials["arch"] == "gru", "test_loss"] = [0.1, 0.25, 0.16] * 4  # spans 1/6
    gru = next(s for s in findings.of_trials(trials) if s.startswith("GRU") and "baseline" in s)
    assert gru.count("(at 0.167)") == 4


def test_importance_is_said_against_the_noise_floor():
    ranked = pd.DataFrame(
        {
            "axis": ["gap", "arch", "seed"],
            "importance": [0.05, 0.0012, 0.0004],
            "std": [0.01, 0.001, 0.001],
            "above_floor": [True, False, False],
        }
    )
    assert findings.of_importance(ranked) == [
        "Axis importance for test accuracy, on held-out folds, against the seed as the "
        "noise floor (4.0e-04): above it: gap 0.05; at it (indistinguishable from noise): arch."
    ]


def test_several_experiments_say_what_each_gave_and_what_was_dropped():
    assert findings.of_experiments({"a": 6, "b": 6}, {"a": 0, "b": 6}) == [
        "2 experiments, trials contributed: a 6, b 6. 6 trial(s) repeated a config (seed "
        "included) of an earlier experiment and were dropped, the first experiment's kept "
        "(b 6)."
    ]


def test_a_moved_frontier_cites_the_levels_that_differ():
    trials = trial_tables()[0]
    lifted = (trials["arch"] == "rnn") & (trials["clip_norm"] == 1.0) & trials["gap"].isin([20, 40])
    trials.loc[lifted, ["solved", "test_acc", "samples_to_solve"]] = [True, 0.99, 2000]
    low, high = newcombe_interval(0, 3, 3, 3)
    cite = f"solved 3/3 against 0/3, difference +100% [{low:+.0%}, {high:+.0%}]"
    assert compare(trials, "clip_norm").findings[0] == (
        "SimpleRNN: clip_norm 1.0 against off: the frontier moves from gap 10 to gap 40; "
        f"at gap 20 {cite}; at gap 40 {cite}."
    )


def test_no_difference_is_said_with_the_number_of_seeds():
    assert compare(trial_tables()[0], "clip_norm").findings[0] == (
        "SimpleRNN: clip_norm 1.0 against off: the same frontier (gap 10); no detectable "
        "difference in the solved rate at any gap at 3 seeds."
    )


def test_models_beyond_the_default_models_frontier_lead_with_their_initial_ratio():
    # Frontiers: rnn 10 (the default model: every swept setting at TrialConfig's default),
    # lstm 40, gru 20. At gap 20, where rnn fails, the initial ratio is 10^(-20/10) = 0.01
    # for rnn and 10^(-20/40) = 0.316 for gru; lstm's seeds are set to 0.1, 1 and 10 there,
    # whose geometric mean is 1.
    trials = trial_tables(clips=(None,))[0]
    lstm_20 = (trials["arch"] == "lstm") & (trials["gap"] == 20)
    trials.loc[lstm_20, "signal_grad_ratio_init"] = [0.1, 1.0, 10.0]
    sentences = findings.of_trials(trials)
    assert sentences[2] == (
        "Beyond SimpleRNN's frontier (gap 10; the default model): LSTM learned up to gap 40, "
        "GRU learned up to gap 20. At gap 20, where SimpleRNN failed, the gradient reaching "
        "the signal before training, as a share of that at the last input (geometric mean "
        "over seeds), was 1 for LSTM, 0.316 for GRU, against 0.01 for SimpleRNN."
    )


def test_without_the_default_model_the_shortest_frontier_is_the_reference():
    # gru (20) is the shortest of lstm 40 and gru 20; both at gap 40: 10^(-40/40) = 0.1
    trials = trial_tables(archs=("lstm", "gru"), clips=(None,))[0]
    assert (
        "Beyond GRU's frontier (gap 20; the shortest frontier): LSTM learned up to gap 40. "
        "At gap 40, where GRU failed, the gradient reaching the signal before training, as a "
        "share of that at the last input (geometric mean over seeds), was 0.1 for LSTM, "
        "against 0.1 for GRU." in findings.of_trials(trials)
    )


def test_of_tied_shortest_frontiers_the_one_with_default_settings_is_the_reference():
    # No default model (no rnn); GRU clipped (listed first) and not, LSTM clipped: all tie
    # at gap 20, and clipping off, the default, makes GRU · clip off the reference.
    tables = trial_tables(
        archs=("gru", "lstm"), clips=(1.0, None), frontier={"lstm": 20, "gru": 20}
    )
    trials = tables[0]
    trials = trials[~((trials["arch"] == "lstm") & trials["clip_norm"].isna())]
    lead = [s for s in findings.of_trials(trials) if s.startswith(("Beyond", "No model"))]
    assert lead == [
        "No model learned beyond GRU · clip off's frontier (gap 20; the shortest frontier)."
    ]


def test_no_model_beyond_the_reference_is_said():
    trials = trial_tables(clips=(None,), frontier={"rnn": 40, "lstm": 20, "gru": 10})[0]
    assert (
        "No model learned beyond SimpleRNN's frontier (gap 40; the default model)."
        in findings.of_trials(trials)
    )
