"""Where the time went: per level, the trial-seconds that ran and those its decision needed
in hindsight, counted by hand on a made-up walk."""

import pandas as pd

from gradsweep import costs
from tests.helpers import trial_tables

# One model's walk, seeds 0-2, budget 40 epochs: (gap, seed) -> (solved, epochs, seconds).
WALK = {
    (5, 0): (True, 2, 2.0),
    (5, 1): (True, 3, 3.0),
    (10, 0): (False, 40, 40.0),  # a split level: its third seed decided it
    (10, 1): (True, 9, 10.0),
    (10, 2): (True, 11, 12.0),
    (20, 0): (False, 40, 50.0),
    (20, 1): (False, 40, 45.0),
    (40, 0): (False, 20, 60.0),  # verification, cut short (diverged): undecided
}


def _walk() -> pd.DataFrame:
    trials, _, _ = trial_tables(gaps=(5, 10, 20, 40), archs=("rnn",), clips=(None,), epochs=40)
    keys = list(zip(trials["gap"], trials["seed"], strict=True))
    trials = trials[[key in WALK for key in keys]].copy()
    for column, i in (("solved", 0), ("epochs_run", 1), ("wall_s", 2)):
        trials[column] = [WALK[key][i] for key in zip(trials["gap"], trials["seed"], strict=True)]
    return trials


def test_each_level_counts_its_trials_and_what_its_decision_needed():
    table = costs.by_level(_walk(), seeds=3, verify=True).set_index("gap")
    assert table["trials"].to_dict() == {5: 2, 10: 3, 20: 2, 40: 1}
    assert table["trial_s"].to_dict() == {5: 5.0, 10: 62.0, 20: 95.0, 40: 60.0}
    # solved: the 2 fastest solves; failed: the 3 - 2 + 1 = 2 fastest failures; 40: all
    assert table["needed_s"].to_dict() == {5: 5.0, 10: 22.0, 20: 95.0, 40: 60.0}
    assert table["full_budget"].to_dict() == {5: 0, 10: 1, 20: 2, 40: 0}
    assert table.loc[20, "full_budget_s"] == 95.0
    assert table.loc[10, "each"] == (
        "seed 0: 40 ep 40 s ✗, seed 1: 9 ep 10 s ✓, seed 2: 11 ep 12 s ✓"
    )
    assert set(table["model"]) == {"SimpleRNN"}


def test_a_walk_without_verification_needs_nothing_above_the_first_failed_level():
    table = costs.by_level(_walk(), seeds=3).set_index("gap")
    assert table["needed_s"].to_dict() == {5: 5.0, 10: 22.0, 20: 95.0, 40: 0.0}


def test_a_unanimous_majority_makes_a_single_failure_decide():
    table = costs.by_level(_walk(), seeds=3, majority=3, verify=True).set_index("gap")
    # gap 5 fails (2 solves, 3 needed; too few trials to decide, so all count); gap 10,
    # the level verified above it, fails by its single fastest failure; nothing above
    assert table["needed_s"].to_dict() == {5: 5.0, 10: 40.0, 20: 0.0, 40: 0.0}


def test_the_sentence_cites_the_totals():
    sentence = costs.summary_sentence(costs.by_level(_walk(), seeds=3, verify=True))
    assert sentence.startswith("The 8 finished trials used 222 trial-seconds; 3 of them ran")
    assert "(135 s, 61%)" in sentence and "in hindsight, 182 s (82%)" in sentence


def test_the_decision_rule_comes_from_the_spec():
    search = {"method": "frontier", "majority": 4, "verify": True}
    spec = {"axes": {"seed": [0, 1, 2, 3, 4]}, "search": search}
    assert costs.decision_rule({"spec": spec}) == (5, 4, True)
    assert costs.decision_rule({}) == (None, None, False)
