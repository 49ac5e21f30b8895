"""Generated input, at scale: 500 specs mutated from the shipped ones or made from scratch,
500 `train` option sets, and 520 author-style variations of the shipped specs
(`author_style`). Each is refused with one clean line, or every part of it that launch
checks can actually be built: the first trial's config, its data shapes (drawn at two
sequences), a memory estimate this machine holds, a grid without two identical configs,
and a frontier walk that ends. Nothing trains and Ray never starts.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from gradsweep import tasks
from gradsweep.cli import _machine_memory, _parse_options
from gradsweep.config import INT32_MAX, TrialConfig, estimate_memory_bytes
from gradsweep.errors import ConfigError
from gradsweep.frontier_search import FINISHED
from gradsweep.report import NAME_MAX, fit_name
from gradsweep.spec import SweepSpec
from gradsweep.spec_yaml import load_yaml
from tests.faults import author_style

SWEEPS = Path(__file__).parent.parent.parent / "sweeps"
SHIPPED = [load_yaml(p.read_text()) for p in sorted(SWEEPS.glob("*.yaml"))]
CASES = 500
AUTHOR_CASES = 520


def odd_value(rng: random.Random):
    """A value a careless user (or a broken generator) might put anywhere."""
    return rng.choice(
        [
            True,
            False,
            None,
            0,
            -1,
            -(2**40),
            2**31,
            2**70,
            10**11,
            1.5,
            -0.0,
            1e308,
            math.inf,
            math.nan,
            "",
            "ten",
            "1e-3",
            "ﬁve ✓",
            [],
            [None],
            [True, 6],
            [[1, [2, [3]]]],
            {"a": {"b": {"c": 1}}},
            "gap+4",
            "rnn",
        ]
    )


def mutate(spec, rng: random.Random):
    """`spec` changed in one to three places: a value replaced, a key added or removed."""
    spec = copy.deepcopy(spec)
    for _ in range(rng.randint(1, 3)):
        node = spec
        path = []
        while isinstance(node, dict | list) and node and rng.random() < 0.7:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            if not isinstance(node[key], dict | list):
                break
            path.append(key)
            node = node[key]
        if isinstance(node, dict):
            action = rng.random()
            if node and action < 0.6:
                node[rng.choice(list(node))] = odd_value(rng)
            elif node and action < 0.8:
                del node[rng.choice(list(node))]
            else:
                node[rng.choice(["bogus", "lr", "hidden", "search", "méthode", "gap"])] = odd_value(
                    rng
                )
        elif isinstance(node, list) and node:
            node[rng.randrange(len(node))] = odd_value(rng)
    return spec


def from_scratch(rng: random.Random):
    """A spec assembled from plausible and implausible parts."""
    axes = {}
    for field in rng.sample(["arch", "gap", "seed", "hidden", "clip_norm", "lr", "seq_len"], 3):
        axes[field] = [odd_value(rng) for _ in range(rng.randint(1, 3))]
    spec = {"name": rng.choice(["s", "a b", "ok-1", "../x"]), "task": "recall", "axes": axes}
    if rng.random() < 0.5:
        spec["fixed"] = {rng.choice(["train_size", "batch_size", "test_size"]): odd_value(rng)}
    if rng.random() < 0.3:
        spec["resources"] = {"gpus_per_trial": odd_value(rng)}
    return spec


def assert_buildable(cfg: TrialConfig) -> None:
    """What a launch or a trial needs of a config, short of training it."""
    again = TrialConfig(**cfg.model_dump())  # the config round-trips through params.json
    assert again == cfg
    sizes = (cfg.batch_size, cfg.train_size, cfg.val_size, cfg.test_size, cfg.probe_size)
    assert all(1 <= n <= INT32_MAX for n in sizes) and cfg.batch_size <= cfg.train_size
    assert math.isfinite(cfg.lr) and (cfg.clip_norm is None or math.isfinite(cfg.clip_norm))
    assert estimate_memory_bytes(cfg) <= _machine_memory()
    split = tasks.generate(
        cfg.task, 2, cfg.seq_len, np.random.default_rng(cfg.seed), cfg.gap, cfg.scale
    )
    task = tasks.get(cfg.task)
    assert split.x.shape == (2, cfg.seq_len, task.channels)
    assert split.y.shape == ((2, cfg.seq_len) if task.output == "sequence" else (2, 1))


def test_generated_specs_are_refused_in_one_line_or_buildable(tmp_path):
    from gradsweep.sweep import prepare  # checks storage and resources; starts no Ray

    rng = random.Random(20261125)
    outcomes = {"refused": 0, "accepted": 0}
    for case in range(CASES):
        spec = mutate(rng.choice(SHIPPED), rng) if case % 4 else from_scratch(rng)
        text = yaml.safe_dump(spec, allow_unicode=True)
        try:
            loaded = SweepSpec.from_text(text)
            plan = prepare(loaded, storage=str(tmp_path), yes=True)
        except ConfigError as err:
            message = str(err)
            assert message and "\n" not in message and "Traceback" not in message, text
            outcomes["refused"] += 1
            continue
        cfg = TrialConfig(**{**plan.configs[0]})
        assert_buildable(cfg)
        outcomes["accepted"] += 1
    assert outcomes["accepted"] >= 10 and outcomes["refused"] >= 200, outcomes
    assert list(tmp_path.iterdir()) == []  # prepare wrote nothing


def option_value(rng: random.Random, default):
    """A value of the option's type, or a hostile one typer's conversion would let through."""
    if isinstance(default, bool):
        return rng.choice([True, False])
    if isinstance(default, int) or default is None:
        return rng.choice([default, 1, 2, 7, 64, 0, -3, 2**31, 2**70, 10**11, None])
    if isinstance(default, float):
        return rng.choice([default, 0.5, 1.0, 1e-9, 0.0, -1.0, math.inf, math.nan, 1e308])
    return rng.choice([default, "rnn", "lstm", "gru", "copy", "", "ZZ", "identity", "recall"])


def test_generated_train_options_are_refused_in_one_line_or_buildable():
    rng = random.Random(7)
    defaults = {name: f.default for name, f in TrialConfig.model_fields.items()}
    outcomes = {"refused": 0, "accepted": 0}
    for _ in range(CASES):
        values = dict(defaults)
        for name in rng.sample(list(defaults), rng.randint(1, 4)):
            values[name] = option_value(rng, defaults[name])
        try:
            cfg = _parse_options(values)
        except ConfigError as err:
            assert str(err) and "\n" not in str(err)
            name = err.field or ""
            assert name.startswith("--") or name in ("memory", "config"), (name, str(err))
            outcomes["refused"] += 1
            continue
        assert_buildable(cfg)
        outcomes["accepted"] += 1
    assert outcomes["accepted"] >= 50 and outcomes["refused"] >= 100, outcomes


def walk_ends(spec: SweepSpec, trials: list[TrialConfig], rng: random.Random) -> int:
    """Drive a spec's frontier search with made-up outcomes, two trials at a time, to its
    end; returns how many ran. Fails if the walk waits with nothing running (stuck)."""
    walk = spec.frontier_plan().search([t.model_dump() for t in trials])
    ran, running = 0, []
    while True:
        suggestion = walk.suggest() if len(running) < 2 else None
        if suggestion == FINISHED and not running:
            return ran
        if isinstance(suggestion, dict):
            running.append(suggestion)
            ran += 1
            assert ran <= len(trials), "the walk handed out more trials than the grid has"
            continue
        assert running, f"the walk waits with nothing running: {spec.search}"
        assert walk.record(running.pop(0), rng.random() < 0.6)


def refusal_fits(variant: author_style.Variant, line: str) -> None:
    """A variant changed in one way is refused for that reason, in one line."""
    assert line and "\n" not in line and "unexpected" not in line, line
    if len(variant.kinds) != 1:
        return
    expected = {
        "respell": "never refused: every spelling means the same number",
        "json": "never refused: JSON is YAML 1.2",
        "dup_axis": "give the same trial config",
        "dup_model": "give the same trial config",
        "yaml11": "YAML 1.2 reads",
        "int_as_float": "a number with a dot or an exponent is a float",
        "name": "name:",
        "search": "search.",
    }[variant.kinds[0]]
    assert expected in line, (variant.kinds, line, variant.text)
    if variant.kinds == ["name"]:
        assert not variant.name_ok, (line, variant.text)


def test_author_style_specs_are_refused_in_one_line_or_build_without_twins():
    specs = author_style.shipped()
    plain = {
        name: author_style.as_text(spec, random.Random(0), False) for name, spec in specs.items()
    }
    originals = {name: SweepSpec.from_text(text).expand().trials for name, text in plain.items()}
    rng = random.Random(20261130)
    # every search axis of every shipped spec once, then random variations
    forced = [
        (name, axis) for name, spec in specs.items() for axis in author_style.search_axes(spec)
    ]
    outcomes: Counter[str] = Counter()
    started = time.process_time()  # CPU time: the other processes on a machine do not count
    for case in range(AUTHOR_CASES):
        variant = author_style.variant(specs, rng, forced[case] if case < len(forced) else None)
        try:
            spec = SweepSpec.from_text(variant.text)
        except ConfigError as err:
            refusal_fits(variant, str(err))
            outcomes["refused"] += 1
            continue
        trials = spec.expand().trials
        configs = [tuple(sorted(t.model_dump().items())) for t in trials]
        assert len(set(configs)) == len(configs), variant.text  # no two identical trials
        if variant.faithful:
            assert trials == originals[variant.source], variant.text
        if variant.name_ok is not None:
            assert variant.name_ok, variant.text
            together = f"{spec.name}+{'z' * 128}"  # `report NAME OTHER`'s directory
            assert len(fit_name(together).encode()) <= NAME_MAX
        if spec.frontier_plan() is not None:
            assert 1 <= walk_ends(spec, trials, rng) <= len(trials)
            outcomes["walked"] += 1
        outcomes["accepted"] += 1
    elapsed = time.process_time() - started
    assert outcomes["accepted"] >= 75 and outcomes["refused"] >= 200, outcomes
    assert outcomes["walked"] >= 30, outcomes
    assert elapsed < 10, f"{AUTHOR_CASES} cases took {elapsed:.1f} CPU seconds"
