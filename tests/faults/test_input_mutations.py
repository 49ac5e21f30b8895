"""Generated input, at scale: 500 specs mutated from the shipped ones or made from scratch,
and 500 `train` option sets. Each is refused with one clean line, or every part of it that
launch checks can actually be built: the first trial's config, its data shapes (drawn at
two sequences) and a memory estimate this machine holds. Nothing trains and Ray never starts.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import yaml

from gradsweep import tasks
from gradsweep.cli import _machine_memory, _parse_options
from gradsweep.config import INT32_MAX, TrialConfig, estimate_memory_bytes
from gradsweep.errors import ConfigError
from gradsweep.spec import SweepSpec

SWEEPS = Path(__file__).parent.parent.parent / "sweeps"
SHIPPED = [yaml.safe_load(p.read_text()) for p in sorted(SWEEPS.glob("*.yaml"))]
CASES = 500


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
    spec = yaml.safe_load(yaml.safe_dump(spec))
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
