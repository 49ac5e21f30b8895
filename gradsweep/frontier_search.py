"""Frontier search: each model's largest learnable level, without running the whole grid.

Per model (every grid axis but the dependency axis and the seed), walk up the levels of the
dependency axis from the smallest, and stop at the first level that fails: fewer than
`majority` of its seeds solved it. Why walk up and not bisect: unsolved points are the costly
ones (they run the whole epoch budget, at the longest sequences), so the cheapest search in
CPU-seconds runs exactly one unsolved level per model; bisection would start by probing the
top level, the costliest.

Only the seeds a decision needs run. A level is decided by `majority` successes or by
`seeds - majority + 1` failures; it starts `majority` seeds, and another only while it is
undecided and the seeds still running cannot decide it. With the default majority (more than
half), a unanimous level, the usual case on either side of a frontier, runs exactly
`majority` seeds.

Free slots go, in this order: to the needed level of each model, round-robin across models,
so every model's frontier develops from the start; then to speculative levels, also
round-robin: `lookahead` levels above the current one (CPU traded for wall time) and, with
`verify`, the level above the first failed one (a test of the monotonicity the walk assumes).

Pure and Ray-free, like keras-tuner's oracles: `suggest` and `record` drive it, so its logic
is tested with made-up outcomes; the sweep layer adapts it to a Ray Tune `Searcher`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FINISHED = "FINISHED"


def default_majority(seeds: int) -> int:
    """Seeds that must solve a level when a search does not say: more than half of them."""
    return seeds // 2 + 1


def config_key(config: dict[str, Any]) -> str:
    """A config's identity: the same for the same values, whatever their order."""
    return json.dumps(config, sort_keys=True)


@dataclass
class _Level:
    value: Any
    configs: list[dict[str, Any]]  # one per seed
    suggested: set[int] = field(default_factory=set)  # seed indices handed out (or restored)
    outcomes: dict[int, bool] = field(default_factory=dict)  # seed index -> solved

    def decided(self, majority: int) -> bool | None:
        """True (solved), False (failed) or None (not decided yet). A level with fewer
        seeds than `majority` is failed from the start: its majority is out of reach."""
        wins = sum(self.outcomes.values())
        losses = len(self.outcomes) - wins
        if wins >= majority:
            return True
        if losses > len(self.configs) - majority:  # the majority is out of reach
            return False
        return None

    def next_seed(self, majority: int) -> int | None:
        """The seed to start now, or None when this level needs no more seeds yet.

        The first `majority` seeds start at once (if they all solve, that decides it).
        Beyond them a seed starts only while the level is undecided and the seeds still
        running cannot decide it whatever their outcomes: fewer run than the fewest
        outcomes that could (the wins still missing, or the failures that would put the
        majority out of reach). An undecided level with nothing running always starts one,
        so the walk never waits on itself."""
        if self.decided(majority) is not None:
            return None
        wins = sum(self.outcomes.values())
        losses = len(self.outcomes) - wins
        running = len(self.suggested) - len(self.outcomes)
        could_decide = min(majority - wins, len(self.configs) - majority + 1 - losses)
        if len(self.suggested) >= majority and running >= could_decide:
            return None
        return next((s for s in range(len(self.configs)) if s not in self.suggested), None)


@dataclass
class _Model:
    levels: list[_Level]
    current: int = 0  # the lowest level not yet decided solved
    failed: int | None = None  # the first failed level, once found

    def open_levels(self, lookahead: int, verify: bool) -> tuple[list[int], list[int]]:
        """Levels whose seeds may run now: (needed, speculative). Needed is the level the
        walk stands on; speculative are the `lookahead` levels above it, or, once the walk
        has failed, the level above the failure when `verify`."""
        n = len(self.levels)
        if self.failed is None:
            needed = [self.current] if self.current < n else []
            return needed, list(range(self.current + 1, min(n, self.current + 1 + lookahead)))
        above = self.failed + 1
        return [], ([above] if verify and above < n else [])

    def to_decide(self, verify: bool) -> list[int]:
        """The levels this model's walk must still decide before it ends."""
        if self.failed is None:
            return [self.current] if self.current < len(self.levels) else []
        above = self.failed + 1
        return [above] if verify and above < len(self.levels) else []


class FrontierSearch:
    """The walk over every model; `suggest` hands out configs, `record` takes outcomes."""

    def __init__(
        self,
        configs: list[dict[str, Any]],
        axis: str,
        model_fields: list[str],
        majority: int,
        lookahead: int = 0,
        verify: bool = False,
    ):
        self.axis, self.majority = axis, majority
        self.lookahead, self.verify = lookahead, verify
        grouped: dict[str, dict[Any, list[dict[str, Any]]]] = {}
        for config in configs:
            model = config_key({k: config.get(k) for k in model_fields})
            grouped.setdefault(model, {}).setdefault(config[axis], []).append(config)
        self.models = [
            _Model([_Level(value, seeds) for value, seeds in sorted(levels.items())])
            for levels in grouped.values()
        ]
        self._where = {
            config_key(config): (m, i, s)
            for m, model in enumerate(self.models)
            for i, level in enumerate(model.levels)
            for s, config in enumerate(level.configs)
        }
        self._turn = 0  # the model served first by the next `suggest` (round-robin)
        for model in self.models:
            self._advance(model)  # levels decided from the start (fewer seeds than majority)

    def suggest(self) -> dict[str, Any] | str | None:
        """The next config to run, FINISHED when nothing more will run, None to wait.

        Needed levels first, then speculative ones; within each, models take turns."""
        count = len(self.models)
        for speculative in (False, True):
            for offset in range(count):
                m = (self._turn + offset) % count
                config = self._start(self.models[m], speculative)
                if config is not None:
                    self._turn = (m + 1) % count
                    return config
        return FINISHED if self.finished else None

    def _start(self, model: _Model, speculative: bool) -> dict[str, Any] | None:
        """Hand out one seed of `model`'s needed (or speculative) levels, lowest first."""
        needed, ahead = model.open_levels(self.lookahead, self.verify)
        for index in ahead if speculative else needed:
            level = model.levels[index]
            seed = level.next_seed(self.majority)
            if seed is not None:
                level.suggested.add(seed)
                return level.configs[seed]
        return None

    def record(self, config: dict[str, Any], solved: bool) -> bool:
        """Take a trial's outcome; False when the config is not part of this search."""
        where = self._where.get(config_key(config))
        if where is None:
            return False
        m, i, s = where
        model = self.models[m]
        model.levels[i].suggested.add(s)
        model.levels[i].outcomes[s] = bool(solved)
        self._advance(model)
        return True

    def mark_running(self, config: dict[str, Any]) -> None:
        """A config that runs already (a restored trial): never suggest it again."""
        where = self._where.get(config_key(config))
        if where is not None:
            m, i, s = where
            self.models[m].levels[i].suggested.add(s)

    def _advance(self, model: _Model) -> None:
        while model.failed is None and model.current < len(model.levels):
            decided = model.levels[model.current].decided(self.majority)
            if decided is None:
                return
            if decided:
                model.current += 1
            else:
                model.failed = model.current

    def at_most(self) -> int:
        """The most trials the search can still come to: those handed out so far and every
        config it may yet hand out (undecided levels the walk can still reach)."""
        total = 0
        for model in self.models:
            reachable = range(model.current, len(model.levels))
            if model.failed is not None:  # only the verification level is left, if any
                reachable = model.to_decide(self.verify)
            for i, level in enumerate(model.levels):
                total += len(level.suggested)
                if i in reachable and level.decided(self.majority) is None:
                    total += len(level.configs) - len(level.suggested)
        return total

    @property
    def finished(self) -> bool:
        """True when every model's walk (and its verification) is decided."""
        return all(
            model.levels[i].decided(self.majority) is not None
            for model in self.models
            for i in model.to_decide(self.verify)
        )

    def bounds(self) -> tuple[int, int]:
        """The fewest and most trials the search can take. Fewest: every model fails its
        smallest level as soon as its majority is out of reach (one slot: failures one at
        a time), and with verify the level above is decided as soon as it can be; most:
        the whole grid (every level split, so that each needs its last seed)."""
        fewest = 0
        for model in self.models:
            fewest += _fewest_to_fail(len(model.levels[0].configs), self.majority)
            if self.verify and len(model.levels) > 1:
                seeds = len(model.levels[1].configs)
                fewest += min(self.majority, _fewest_to_fail(seeds, self.majority))
        return fewest, len(self._where)


def _fewest_to_fail(seeds: int, majority: int) -> int:
    """Failures that put `majority` of `seeds` out of reach (0 when it never was)."""
    return max(0, seeds - majority + 1)
