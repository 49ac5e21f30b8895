"""`compare`: planted effects found with the right sign, none invented, intervals in range."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradsweep.compare import comparable_axes, compare, newcombe_interval, paired_interval
from gradsweep.config import group_label
from gradsweep.errors import ConfigError
from tests.helpers import trial_tables


def planted() -> pd.DataFrame:
    """SimpleRNN solves gaps 20 and 40 only when clipped; nothing else differs."""
    trials = trial_tables()[0]
    lifted = (trials["arch"] == "rnn") & (trials["clip_norm"] == 1.0) & trials["gap"].isin([20, 40])
    trials.loc[lifted, ["solved", "test_acc", "samples_to_solve"]] = [True, 0.99, 2000]
    return trials


def test_a_planted_effect_is_found_with_its_sign_and_an_interval_excluding_zero():
    result = compare(planted(), "clip_norm")
    rnn = result.levels[(result.levels["arch"] == "rnn") & result.levels["gap"].isin([20, 40])]
    assert len(rnn) == 2
    assert (rnn["solved_diff"] == 1.0).all() and (rnn["solved_diff_low"] > 0).all()
    assert (rnn["test_acc_diff"] > 0.4).all() and (rnn["test_acc_diff_low"] > 0).all()
    fronts = result.frontiers[result.frontiers["arch"] == "rnn"].set_index("clip_norm")
    assert fronts["frontier"].tolist() == [10, 40]  # off first, then 1.0
    line = next(f for f in result.findings if f.startswith("SimpleRNN"))
    assert "moves from gap 10 to gap 40" in line and "solved 3/3 against 0/3" in line
    for arch in ("LSTM", "GRU"):  # unchanged models: no effect claimed
        other = next(f for f in result.findings if f.startswith(arch))
        assert "no detectable difference" in other and "at 3 seeds" in other


def test_no_effect_is_reported_as_no_detectable_difference():
    result = compare(trial_tables()[0], "clip_norm")
    assert len(result.findings) == 3
    assert all(
        "the same frontier" in f and "no detectable difference" in f for f in result.findings
    )
    assert (result.levels["solved_diff_low"] < 0).all() and (
        result.levels["solved_diff_high"] > 0
    ).all()


def test_comparing_the_dependency_axis_or_an_unswept_one_is_refused():
    trials = trial_tables()[0]
    for axis in ("gap", "seed", "lr", "colour"):
        with pytest.raises(ConfigError, match=r"compare: .*clip_norm"):
            compare(trials, axis)


def test_newcombe_interval_against_the_formula_written_out():
    # Newcombe 1998, method 10, for 5/10 against 9/10, from the two Wilson intervals
    from scipy.stats import norm

    def wilson(k, n):
        z, p = norm.ppf(0.975), k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return centre - half, centre + half

    (l1, u1), (l2, u2) = wilson(5, 10), wilson(9, 10)
    d = 0.9 - 0.5
    expected = (d - np.sqrt((0.9 - l2) ** 2 + (u1 - 0.5) ** 2),
                d + np.sqrt((u2 - 0.9) ** 2 + (0.5 - l1) ** 2))  # fmt: skip
    assert newcombe_interval(5, 10, 9, 10) == pytest.approx(expected)


def test_paired_interval_is_a_t_interval_truncated_to_the_range():
    mean, low, high = paired_interval(np.array([0.1, 0.3, 0.2]))
    half = 4.302653 * np.std([0.1, 0.3, 0.2], ddof=1) / np.sqrt(3)  # t(0.975, 2) from a table
    assert (mean, low, high) == pytest.approx((0.2, 0.2 - half, 0.2 + half))
    assert paired_interval(np.array([0.9, -0.5]), (-1, 1))[1:] == (-1, 1)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.floats(0, 1), st.booleans(), st.floats(0, 1)),
        min_size=1,
        max_size=6,
    )
)
@pytest.mark.slow  # trains: kept out of the unit tier's minute
def test_every_compare_interval_lies_inside_its_range(seeds):
    rows = []
    for seed, (solved_a, acc_a, solved_b, acc_b) in enumerate(seeds):
        for clip, solved, acc in ((None, solved_a, acc_a), (1.0, solved_b, acc_b)):
            rows.append({"trial_id": f"{seed}{clip}", "status": "TERMINATED", "task": "recall",
                         "arch": "rnn", "gap": 5, "seq_len": 10, "seed": seed,
                         "clip_norm": clip, "solved": solved, "test_acc": acc,
                         "samples_to_solve": 100 if solved else None,
                         "signal_grad_ratio": 0.5})  # fmt: skip
    trials = pd.DataFrame(rows).astype({"clip_norm": "Float64", "samples_to_solve": "Int64"})
    levels = compare(trials, "clip_norm").levels
    for name in ("solved_diff", "test_acc_diff"):
        low, high = levels[f"{name}_low"], levels[f"{name}_high"]
        ok = low.isna() | ((low >= -1) & (low <= high) & (high <= 1))
        assert ok.all(), levels[[name, f"{name}_low", f"{name}_high"]]


def test_a_setting_only_one_model_varies_is_compared_there_only_and_labels_skip_it():
    # gate_init chrono on the LSTM beside an expRNN that has only the default: the expRNN
    # has nothing to set against, and its label does not name a gate init it has none of.
    trials = trial_tables()[0]
    trials = trials[trials["arch"] != "gru"].copy()
    trials["gate_init"] = "keras"
    chrono = trials[trials["arch"] == "lstm"].assign(gate_init="chrono", solved=True)
    exprnn = trials["arch"] == "rnn"
    trials.loc[exprnn, "arch"] = "exprnn"
    both = pd.concat([trials, chrono], ignore_index=True)
    assert comparable_axes(both[both["arch"] == "exprnn"]) == ["clip_norm"]
    result = compare(both, "gate_init")
    assert set(result.levels["arch"]) == {"lstm"}
    assert not any(f.startswith("expRNN") for f in result.findings)
    assert group_label({"arch": "exprnn", "gate_init": "keras"}) == "expRNN"
    assert group_label({"arch": "lstm", "gate_init": "chrono"}) == "LSTM · chrono"
    chrono_label = group_label({"arch": "lstm", "forget_bias": 1.0, "gate_init": "chrono"})
    assert chrono_label == "LSTM · chrono"  # chrono sets the forget bias itself
    unclipped = group_label({"arch": "urnn", "clip_norm": np.nan, "clip_mode": "global_norm"})
    assert unclipped == "uRNN · clip off"


def test_a_setting_that_changes_only_with_the_model_is_refused_in_one_line():
    # Each arch with its own clip: no model ran both, so there is nothing to set against.
    trials = trial_tables()[0]
    trials = trials[(trials["arch"] != "rnn") | (trials["clip_norm"] == 1.0)]
    trials = trials[(trials["arch"] == "rnn") | trials["clip_norm"].isna()]
    with pytest.raises(ConfigError, match=r"compare: 'clip_norm' is not allowed here: it chang"):
        compare(trials, "clip_norm")
    with pytest.raises(ConfigError, match=r"compare: 'arch' is not allowed: compare a swept"):
        compare(trials, "arch")


def test_values_varied_only_where_the_reference_never_ran_are_refused_in_one_line():
    # The LSTM runs clip 0.5 and 1.0, the SimpleRNN only off: the reference (off, the first
    # value) never ran beside another value in any one model.
    trials = trial_tables()[0]
    trials = trials[trials["arch"] != "gru"].copy()
    lstm = trials["arch"] == "lstm"
    trials.loc[lstm & trials["clip_norm"].isna(), "clip_norm"] = 0.5
    trials = trials[~((trials["arch"] == "rnn") & trials["clip_norm"].notna())]
    with pytest.raises(ConfigError, match=r"compare: 'clip_norm' is not allowed here: no model"):
        compare(trials, "clip_norm")
