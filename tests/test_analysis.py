"""Aggregates, intervals, the frontier rule and axis importance, on tables built by hand."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from gradsweep import analysis
from gradsweep.analysis import aggregate, axis_importance, frontier
from gradsweep.intervals import wilson_interval
from gradsweep.results import load_results
from tests.helpers import trial_tables


def outcomes(levels: dict[int, list[bool]], arch: str = "rnn", clip=None) -> pd.DataFrame:
    """A finished trial per (gap, seed) of one model, solved as `levels[gap][seed]` says."""
    rows = [
        {"arch": arch, "clip_norm": clip, "gap": gap, "seed": seed, "solved": solved}
        for gap, seeds in levels.items()
        for seed, solved in enumerate(seeds)
    ]
    frame = pd.DataFrame(rows).assign(status="TERMINATED")
    frame["clip_norm"] = pd.array(frame["clip_norm"], dtype="Float64")
    frame["gap"] = pd.array(frame["gap"], dtype="Int64")
    frame["solved"] = frame["solved"].astype("boolean")
    return frame


def only_row(table: pd.DataFrame) -> pd.Series:
    assert len(table) == 1
    return table.iloc[0]


def test_frontier_is_the_last_level_before_the_first_failed_one():
    row = only_row(frontier(outcomes({5: [True] * 3, 10: [True, True, False], 20: [False] * 3})))
    assert (row["frontier"], row["solved"], row["seeds"]) == (10, 2, 3)
    assert (row["above"], row["above_solved"], row["above_seeds"]) == (20, 0, 3)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson_interval(2, 3))
    assert (row["above_ci_low"], row["above_ci_high"]) == pytest.approx(wilson_interval(0, 3))
    assert row["tested_up_to"] == 20 and row["monotone"] and row["not_run"] == ""


def test_exactly_half_the_seeds_is_not_a_majority():
    row = only_row(frontier(outcomes({5: [True, True], 10: [True, False], 20: [True, True]})))
    assert row["frontier"] == 5
    assert not row["monotone"]  # 20 solved again above the failed 10


def test_one_seed_decides_alone():
    row = only_row(frontier(outcomes({5: [True], 10: [True], 20: [False]})))
    assert (row["frontier"], row["solved"], row["seeds"]) == (10, 1, 1)


def test_a_level_solved_above_a_failed_one_does_not_move_the_frontier():
    row = only_row(frontier(outcomes({5: [True] * 3, 10: [False] * 3, 20: [True] * 3})))
    assert row["frontier"] == 5 and not row["monotone"]


def test_no_level_solved_and_every_level_solved():
    none = only_row(frontier(outcomes({5: [False, False], 10: [False, False]})))
    assert pd.isna(none["frontier"]) and pd.isna(none["solved"]) and none["monotone"]
    assert none["above"] == 5 and none["above_solved"] == 0
    early = only_row(frontier(outcomes({5: [False, False], 10: [True, True]})))
    assert pd.isna(early["frontier"]) and not early["monotone"]
    every = only_row(frontier(outcomes({5: [True], 10: [True], 40: [True]})))
    assert every["frontier"] == 40 and every["tested_up_to"] == 40 and every["monotone"]
    assert pd.isna(every["above"])


def test_majority_can_be_set_and_levels_not_run_are_listed():
    walked = outcomes({5: [True, False, False], 10: [False, False, False]}, arch="rnn")
    full = outcomes({5: [True] * 3, 10: [True] * 3, 20: [True] * 3}, arch="gru")
    table = frontier(pd.concat([walked, full], ignore_index=True), majority=1)
    rows = table.set_index("arch")
    assert rows.loc["rnn", "frontier"] == 5 and rows.loc["rnn", "above"] == 10
    assert rows.loc["rnn", "not_run"] == "20" and rows.loc["gru", "not_run"] == ""
    assert frontier(walked)["frontier"].isna().all()  # by default 2 of 3 seeds must solve


def test_unfinished_trials_do_not_count_and_unclipped_models_are_kept():
    clipped = outcomes({5: [True, True], 10: [True, True]}, clip=1.0)
    free = outcomes({5: [True, True], 10: [False, False]})
    both = pd.concat([clipped, free], ignore_index=True)
    both.loc[both.index[-1], "status"] = "RUNNING"  # free, gap 10, seed 1: not counted
    table = frontier(both).set_index("clip_norm", drop=False)
    assert len(table) == 2
    free_row = table[table["clip_norm"].isna()].iloc[0]
    assert free_row["frontier"] == 5
    assert table[table["clip_norm"] == 1.0].iloc[0]["frontier"] == 10


def test_frontier_of_synthetic_tables_per_model():
    table = frontier(trial_tables()[0])
    off = table[table["clip_norm"].isna()].set_index("arch")["frontier"]
    assert off.to_dict() == {"rnn": 10, "lstm": 40, "gru": 20}
    assert len(table) == 6


def test_aggregate_numbers():
    frame = pd.DataFrame(
        {
            "arch": ["a"] * 4,
            "clip_norm": pd.array([None] * 4, dtype="Float64"),
            "test_acc": [0.5, 0.7, 0.9, 0.7],
            "solved": [True, False, True, True],
            "status": ["TERMINATED"] * 4,
        }
    )
    row = only_row(aggregate(frame, ["arch", "clip_norm"], metrics=["test_acc"]))
    assert row["test_acc_mean"] == pytest.approx(0.7)
    assert row["test_acc_std"] == pytest.approx(np.std([0.5, 0.7, 0.9, 0.7], ddof=1))
    # a t-interval on the logit scale, t(0.975, 3) = 3.182446 from a table, mapped back
    logits = np.log(np.array([0.5, 0.7, 0.9, 0.7]) / (1 - np.array([0.5, 0.7, 0.9, 0.7])))
    half = 3.182446 * logits.std(ddof=1) / 2
    back = 1 / (1 + np.exp(-(logits.mean() + np.array([-half, half]))))
    assert (row["test_acc_ci_low"], row["test_acc_ci_high"]) == pytest.approx(tuple(back))
    assert row["test_acc_gmean"] == pytest.approx(np.exp(np.log([0.5, 0.7, 0.9, 0.7]).mean()))
    methods = aggregate(frame, ["arch"], metrics=["test_acc"]).attrs["ci_method"]
    assert methods == {"test_acc": "t on the logit scale", "solved_rate": "Wilson score"}
    assert row["solved_rate"] == 0.75 and row["solved_count"] == 3 and row["n"] == 4
    assert pd.isna(row["clip_norm"])


def test_aggregate_keeps_unclipped_groups(legacy):
    trials = load_results(legacy).trials
    agg = aggregate(trials, ["arch", "clip_norm"])
    assert len(agg) == 4 and agg["clip_norm"].isna().sum() == 2
    assert (agg["n"] == 2).all()  # gap 2 and 4 finished; gap 5 failed and does not count


@pytest.mark.parametrize(("k", "n"), [(0, 3), (3, 3), (1, 2), (5, 7), (0, 1)])
def test_wilson_interval_matches_its_formula(k, n):
    z = stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(max(0.0, centre - half), abs=1e-9)
    assert high == pytest.approx(min(1.0, centre + half), abs=1e-9)
    assert wilson_interval(0, 3)[1] == pytest.approx(0.5615, abs=1e-4)


def test_axis_importance_ranks_the_axis_that_decides():
    trials, _, _ = trial_tables(frontier={"rnn": 40, "lstm": 40, "gru": 40}, gaps=(5, 10, 80))
    ranked = axis_importance(trials)
    assert ranked.iloc[0]["axis"] == "gap"  # solved iff gap <= 40, whatever the arch
    assert "seq_len" not in set(ranked["axis"])  # seq_len = gap + 10 here: not its own axis
    # only gap matters: every other axis, the seed included, is at the noise floor
    assert ranked.set_index("axis")["above_floor"].to_dict() == {
        "gap": True, "arch": False, "clip_norm": False, "seed": False
    }  # fmt: skip


def test_with_one_seed_a_column_of_noise_is_the_floor():
    trials, _, _ = trial_tables(frontier={"rnn": 40, "lstm": 40, "gru": 40}, gaps=(5, 10, 80),
                                seeds=(0,))  # fmt: skip
    ranked = axis_importance(trials).set_index("axis")
    assert "(noise)" in ranked.index and not ranked.loc["(noise)", "above_floor"]
    assert ranked.loc["gap", "above_floor"] and not ranked.loc["arch", "above_floor"]


SHARE_VALUES = st.floats(0, 1, allow_nan=False)
POSITIVE_VALUES = st.floats(1e-12, 1e12, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    shares=st.lists(SHARE_VALUES, min_size=1, max_size=6),
    positives=st.lists(POSITIVE_VALUES, min_size=1, max_size=6),
)
def test_every_aggregate_interval_stays_inside_its_metrics_range(shares, positives):
    n = min(len(shares), len(positives))
    frame = pd.DataFrame(
        {
            "arch": ["a"] * n,
            "status": ["TERMINATED"] * n,
            "test_acc": shares[:n],
            "clip_fraction": shares[:n][::-1],
            "grad_norm_max": positives[:n],
            "signal_grad_ratio": positives[:n][::-1],
            "solved": [v > 0.5 for v in shares[:n]],
        }
    )
    metrics = ["test_acc", "clip_fraction", "grad_norm_max", "signal_grad_ratio"]
    row = only_row(aggregate(frame, ["arch"], metrics=metrics))
    for metric in metrics:
        low, high = row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]
        if n < 2:
            assert np.isnan(low) and np.isnan(high)
            continue
        assert low <= high
        if metric in ("test_acc", "clip_fraction"):
            assert low >= 0 and high <= 1
        else:
            assert low > 0 or np.isclose(low, 0)  # positive metrics: above zero
    assert 0 <= row["solved_ci_low"] <= row["solved_ci_high"] <= 1


@pytest.mark.parametrize(
    ("task_column", "gaps", "expected"),
    [
        (["copy", "copy"], [5, 10], "gap"),
        (["adding", "adding"], [None, None], "seq_len"),
        (["recall", "copy"], [5, 10], "gap"),
        (["recall", "sum_sign"], [5, None], "gap"),  # tasks disagree: a trial has a gap
        (["parity", "parity"], [None, None], "seq_len"),  # unknown task: no gap, so seq_len
    ],
)
def test_dependency_axis_follows_the_trials_tasks(task_column, gaps, expected):
    from gradsweep.analysis import dependency_axis

    trials = pd.DataFrame({"task": task_column, "gap": pd.array(gaps, dtype="Int64")})
    assert dependency_axis(trials) == expected


def test_finished_keeps_only_terminated_trials():
    trials = trial_tables(seeds=(0,))[0]
    trials.loc[trials.index[:3], "status"] = ["RUNNING", "ERROR", "PENDING"]
    assert len(analysis.finished(trials)) == len(trials) - 3
    assert analysis.finished(trials.drop(columns="status")).equals(trials.drop(columns="status"))


def test_groups_yield_dicts_and_keep_na_keys():
    trials = trial_tables(archs=("rnn",), gaps=(5,), seeds=(0, 1))[0]  # clip off and 1.0
    found = {(key["arch"], key["clip_norm"]): len(rows) for key, rows in
             analysis.groups(trials, ["arch", "clip_norm"])}  # fmt: skip
    assert len(found) == 2 and found[("rnn", 1.0)] == 2
    (na_key,) = [k for k in found if pd.isna(k[1])]  # the unclipped group is not dropped
    assert found[na_key] == 2
    assert [(key, len(rows)) for key, rows in analysis.groups(trials, [])] == [({}, 4)]


def test_select_matches_na_to_na():
    trials = trial_tables(archs=("rnn", "gru"), gaps=(5,), seeds=(0,))[0]
    unclipped = analysis.select(trials, {"arch": "gru", "clip_norm": pd.NA})
    assert len(unclipped) == 1 and pd.isna(unclipped["clip_norm"].iloc[0])
    assert len(analysis.select(trials, {"clip_norm": 1.0})) == 2


def test_a_column_each_arch_fills_in_itself_does_not_split_or_label_the_models():
    rnn = outcomes({5: [True, True]}).assign(activation="tanh", recurrent_init="orthogonal")
    exp = outcomes({5: [True, True]}, arch="exprnn")
    exp = exp.assign(activation="modrelu", recurrent_init="henaff")
    irnn = outcomes({5: [True, False]}).assign(activation="relu", recurrent_init="identity")
    assert analysis.frontier_groups(pd.concat([rnn, exp], ignore_index=True)) == ["arch"]
    # An IRNN beside the SimpleRNN: the same arch, two activations, so the column is kept.
    mixed = pd.concat([rnn, exp, irnn], ignore_index=True)
    assert analysis.frontier_groups(mixed) == ["arch", "activation", "recurrent_init"]


def test_a_column_each_arch_fills_in_itself_is_not_an_axis_to_rank():
    rnn = outcomes({5: [True, True]}).assign(activation="tanh", recurrent_init="orthogonal")
    exp = outcomes({5: [True, True]}, arch="exprnn")
    exp = exp.assign(activation="modrelu", recurrent_init="henaff")
    irnn = outcomes({5: [True, False]}).assign(activation="relu", recurrent_init="identity")
    assert "activation" not in analysis.ranked_axes(pd.concat([rnn, exp], ignore_index=True))
    mixed = pd.concat([rnn, exp, irnn], ignore_index=True)
    assert {"arch", "activation", "recurrent_init"} <= set(analysis.ranked_axes(mixed))
