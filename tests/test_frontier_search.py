"""The frontier search's walk, driven with made-up outcomes (no Ray, no training)."""

import itertools
import random

import pandas as pd
import pytest

from gradsweep.analysis import frontier
from gradsweep.frontier_search import FINISHED, FrontierSearch


def grid(archs=("rnn",), gaps=(1, 2, 3, 4), seeds=(0, 1)) -> list[dict]:
    return [
        {"arch": a, "gap": g, "seq_len": g + 3, "seed": s}
        for a, g, s in itertools.product(archs, gaps, seeds)
    ]


def search(configs, majority=2, lookahead=0, verify=False) -> FrontierSearch:
    return FrontierSearch(configs, "gap", ["arch"], majority, lookahead, verify)


def run(walk: FrontierSearch, solves, slots: int = 1, rng=None) -> list[dict]:
    """Drive `walk` to the end with `slots` trials at once; returns the configs run, in order.
    `solves(config)` says whether a trial solves its task. Trials end in the order they
    started, or in a random order drawn from `rng`."""
    ran, running = [], []
    while True:
        suggestion = walk.suggest() if len(running) < slots else None
        if suggestion == FINISHED and not running:
            return ran
        if isinstance(suggestion, dict):
            running.append(suggestion)
            ran.append(suggestion)
            continue
        assert running, "waiting with nothing running: the walk is stuck"
        done = running.pop(rng.randrange(len(running)) if rng else 0)
        assert walk.record(done, solves(done))


def test_walks_up_and_stops_at_the_first_failed_level():
    together = run(search(grid()), lambda c: c["gap"] <= 2, slots=2)
    expected = [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]
    assert [(c["gap"], c["seed"]) for c in together] == expected
    # one slot: level 3's first failure already puts the majority (2 of 2) out of reach
    alone = run(search(grid()), lambda c: c["gap"] <= 2, slots=1)
    assert [(c["gap"], c["seed"]) for c in alone] == expected[:-1]


def test_models_proceed_side_by_side_and_wait_only_on_themselves():
    walk = search(grid(archs=("rnn", "gru")))
    first = [walk.suggest() for _ in range(5)]
    assert [(c["arch"], c["gap"]) for c in first[:4]] == [("rnn", 1), ("gru", 1)] * 2
    assert first[4] is None  # every needed trial is out; nothing to run until one ends
    walk.record(first[1], True)
    walk.record(first[3], True)  # gru's level 1 solved: its level 2 is ready, rnn still waits
    assert [walk.suggest()["arch"] for _ in range(2)] == ["gru", "gru"]


def test_lookahead_runs_levels_above_when_slots_would_idle():
    walk = search(grid(), lookahead=2)
    gaps = [walk.suggest()["gap"] for _ in range(6)]
    assert gaps == [1, 1, 2, 2, 3, 3] and walk.suggest() is None


def test_models_take_turns_for_free_slots():
    archs = ("rnn", "lstm", "gru", "urnn")
    ran = run(search(grid(archs, seeds=(0, 1, 2))), lambda c: True, slots=2)
    assert {c["arch"] for c in ran[:4]} == set(archs)  # no model waits for another's walk
    walk = search(grid(("rnn", "lstm", "gru"), seeds=(0, 1, 2)))
    first = [walk.suggest() for _ in range(6)]
    for config in first:  # rnn's and lstm's first level solved: both go on to level 2
        if config["arch"] != "gru":
            walk.record(config, True)
    assert [(c["arch"], c["gap"]) for c in [walk.suggest() for _ in range(4)]] == [
        ("rnn", 2),
        ("lstm", 2),
        ("rnn", 2),
        ("lstm", 2),
    ]


def test_needed_trials_of_other_models_go_before_verification():
    walk = search(grid(archs=("rnn", "gru")), verify=True)
    for config in [walk.suggest() for _ in range(4)]:
        walk.record(config, config["arch"] == "gru")  # rnn fails level 1, gru solves it
    after = [(c["arch"], c["gap"]) for c in [walk.suggest() for _ in range(4)]]
    assert after == [("gru", 2), ("gru", 2), ("rnn", 2), ("rnn", 2)]


@pytest.mark.parametrize(("seeds", "majority"), [(3, 2), (5, 3), (4, 3), (3, 3)])
def test_unanimous_levels_run_only_majority_seeds(seeds, majority):
    configs = grid(gaps=(1, 2, 3, 4, 5), seeds=tuple(range(seeds)))
    ran = run(search(configs, majority), lambda c: c["gap"] <= 3, slots=len(configs))
    per_level = pd.Series([c["gap"] for c in ran]).value_counts().sort_index()
    assert per_level.to_dict() == {1: majority, 2: majority, 3: majority, 4: majority}


def test_a_split_level_starts_its_next_seed_only_after_a_failure():
    walk = search(grid(seeds=(0, 1, 2)))  # majority 2 of 3
    first, second = walk.suggest(), walk.suggest()
    assert walk.suggest() is None  # two seeds out: if both solve, the level is decided
    walk.record(first, False)
    assert walk.suggest() is None  # the one still out decides it if it fails too
    walk.record(second, True)
    assert (walk.suggest()["gap"], walk.suggest()) == (1, None)  # the third seed, only it


def test_a_decided_level_starts_no_more_seeds():
    configs = grid(seeds=(0, 1, 2))
    ran = run(search(configs, majority=2), lambda c: c["gap"] == 1)
    # level 1: two solves decide it; level 2: two failures decide it; the third seeds never run
    assert [(c["gap"], c["seed"]) for c in ran] == [(1, 0), (1, 1), (2, 0), (2, 1)]


def test_verify_runs_the_level_above_the_first_failure():
    solves = lambda c: c["gap"] != 2  # noqa: E731  (not monotone)
    plain = run(search(grid()), solves)
    checked = run(search(grid(), verify=True), solves)
    assert max(c["gap"] for c in plain) == 2 and max(c["gap"] for c in checked) == 3
    table = frontier(as_trials(checked, solves))
    assert table.iloc[0]["frontier"] == 1 and not table.iloc[0]["monotone"]


def as_trials(configs, solves) -> pd.DataFrame:
    frame = pd.DataFrame(configs).assign(status="TERMINATED")
    frame["solved"] = [solves(c) for c in configs]
    frame["gap"] = frame["gap"].astype("Int64")
    return frame


@pytest.mark.parametrize("seed", range(25))
def test_finds_the_frontier_the_full_grid_gives(seed):
    rng = random.Random(seed)
    archs, gaps, seeds = ("rnn", "lstm", "gru"), (2, 4, 8, 16, 32, 64), (0, 1, 2)
    configs = grid(archs, gaps, seeds)
    # a monotone truth per (arch, seed): each seed solves every gap up to its own limit
    limit = {(a, s): rng.choice((0, *gaps)) for a in archs for s in seeds}
    solves = lambda c: c["gap"] <= limit[(c["arch"], c["seed"])]  # noqa: E731
    walk = search(configs, majority=2, lookahead=rng.randint(0, 2))
    ran = run(walk, solves, slots=rng.randint(1, 4))
    full = frontier(as_trials(configs, solves))
    found = frontier(as_trials(ran, solves), majority=2)
    pd.testing.assert_series_equal(found["frontier"], full["frontier"])
    assert len(ran) <= len(configs) and len({str(c) for c in ran}) == len(ran)  # none twice


@pytest.mark.parametrize("seed", range(25))
def test_never_suggests_a_config_twice(seed):
    rng = random.Random(seed)
    configs = grid(("rnn", "lstm", "gru"), (2, 4, 8, 16, 32), (0, 1, 2, 3, 4))
    outcome = {str(c): rng.random() < 0.6 for c in configs}  # any outcomes, not monotone
    walk = search(configs, rng.randint(1, 5), rng.randint(0, 3), rng.random() < 0.5)
    ran = run(walk, lambda c: outcome[str(c)], slots=rng.randint(1, 12), rng=rng)
    assert len({str(c) for c in ran}) == len(ran) and walk.finished


def test_a_level_that_cannot_be_decided_ends_the_walk():
    assert search(grid(), majority=3).suggest() == FINISHED  # 2 seeds can never make 3
    short = [c for c in grid(seeds=(0, 1)) if c["gap"] != 3 or c["seed"] == 0]
    ran = run(search(short, verify=True), lambda c: True, slots=4)
    # level 3 has one seed of the two needed: it fails unrun; level 4 runs to verify that
    assert [c["gap"] for c in ran] == [1, 1, 2, 2, 4, 4]


def test_bounds_are_reached():
    # majority 2 of 3 seeds: two failures decide a level, two solves too
    configs = grid(archs=("rnn", "gru"), seeds=(0, 1, 2))
    assert search(configs).bounds() == (2 * 2, 24)
    assert search(configs, verify=True).bounds() == (2 * (2 + 2), 24)
    assert len(run(search(configs), lambda c: False)) == 4
    assert len(run(search(configs), lambda c: False, slots=24)) == 4  # only 2 seeds start
    assert len(run(search(configs, verify=True), lambda c: False)) == 8
    split = lambda c: c["seed"] != 1  # noqa: E731  (every level needs its third seed)
    assert len(run(search(configs), split, slots=24)) == 24
    assert len(run(search(configs), lambda c: True, slots=24)) == 2 * 4 * 2  # 2 per level


def test_restored_records_are_never_suggested_again():
    configs = grid()
    walk = search(configs)
    assert walk.record(configs[0], True) and walk.record(configs[1], True)
    walk.mark_running(configs[2])  # a trial Tune is resuming
    assert walk.suggest() == configs[3]
    assert walk.suggest() is None
    assert not walk.record({"arch": "lstm", "gap": 1, "seq_len": 4, "seed": 0}, True)


def test_at_most_counts_what_the_walk_can_still_come_to():
    configs = grid(archs=("rnn", "gru"), gaps=(1, 2, 3), seeds=(0, 1, 2))  # 18 configs
    walk = search(configs)  # majority 2 of 3
    assert walk.at_most() == 18
    handed = [walk.suggest() for _ in range(4)]  # level 1 of both models, two seeds each
    assert walk.suggest() is None
    assert sorted((c["arch"], c["gap"]) for c in handed) == [("gru", 1)] * 2 + [("rnn", 1)] * 2
    rnn = [c for c in handed if c["arch"] == "rnn"]
    walk.record(rnn[0], False)
    walk.record(rnn[1], False)  # rnn failed its first level: nothing above can run
    assert walk.at_most() == 4 + 1 + 6  # the four handed out, gru's third seed, levels 2, 3
    gru = [c for c in handed if c["arch"] == "gru"]
    walk.record(gru[0], True)
    walk.record(gru[1], True)  # gru's level 1 is solved; its walk goes on
    assert walk.at_most() == 10
    assert len(run(walk, lambda c: c["gap"] < 3)) + 4 <= 10  # and the rest stays within it
    verify = search(configs, verify=True)
    for c in [verify.suggest() for _ in range(4)][::2]:  # rnn's two seeds (models alternate)
        verify.record(c, False)  # rnn fails level 1: its level 2 is run to verify
    assert verify.at_most() == 18 - 1 - 3  # rnn's third seed of level 1 and its level 3
