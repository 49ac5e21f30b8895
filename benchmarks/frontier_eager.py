"""The frontier walk as it was before lazy seeds (gradsweep 2026-11-30, commit 4f3c767),
frozen here as the baseline of `bench_frontier.lazy_seeds`: every seed of a level is handed
out at once, and models are served in a fixed order (the first with work takes the slot).
Not used by gradsweep itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FINISHED = "FINISHED"


def config_key(config: dict[str, Any]) -> str:
    """A config's identity: the same for the same values, whatever their order."""
    return json.dumps(config, sort_keys=True)


@dataclass
class _Level:
    value: Any
    configs: list[dict[str, Any]]  # one per seed
    suggested: set[int] = field(default_factory=set)
    outcomes: dict[int, bool] = field(default_factory=dict)  # seed index -> solved

    def decided(self, majority: int) -> bool | None:
        """True (solved), False (failed) or None (not decided yet)."""
        wins = sum(self.outcomes.values())
        losses = len(self.outcomes) - wins
        if wins >= majority:
            return True
        if losses > len(self.configs) - majority:  # the majority is out of reach
            return False
        return None


@dataclass
class _Model:
    levels: list[_Level]
    current: int = 0  # the lowest level not yet decided solved
    failed: int | None = None  # the first failed level, once found

    def open_levels(self, lookahead: int, verify: bool) -> tuple[list[int], list[int]]:
        """Levels whose seeds may run now: (needed, speculative)."""
        n = len(self.levels)
        if self.failed is None:
            needed = [self.current] if self.current < n else []
            return needed, list(range(self.current + 1, min(n, self.current + 1 + lookahead)))
        above = self.failed + 1
        return ([above] if verify and above < n else []), []


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

    def suggest(self) -> dict[str, Any] | str | None:
        """The next config to run, FINISHED when nothing more will run, None to wait."""
        for speculative in (False, True):
            for model in self.models:
                needed, ahead = model.open_levels(self.lookahead, self.verify)
                for index in ahead if speculative else needed:
                    level = model.levels[index]
                    if level.decided(self.majority) is not None:
                        continue
                    for seed, config in enumerate(level.configs):
                        if seed not in level.suggested:
                            level.suggested.add(seed)
                            return config
        return FINISHED if self.finished else None

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
                above = model.failed + 1
                reachable = [above] if self.verify and above < len(model.levels) else []
            for i, level in enumerate(model.levels):
                total += len(level.suggested)
                if i in reachable and level.decided(self.majority) is None:
                    total += len(level.configs) - len(level.suggested)
        return total

    @property
    def finished(self) -> bool:
        """True when every model's walk (and its verification) is decided."""
        for model in self.models:
            needed, _ = model.open_levels(0, self.verify)
            if any(model.levels[i].decided(self.majority) is None for i in needed):
                return False
        return True

    def bounds(self) -> tuple[int, int]:
        """The fewest and most trials the search can take. Fewest: every model fails its
        smallest level as soon as its majority is out of reach (with verify, the level
        above is decided as soon as it can be); most: the whole grid."""
        fewest = 0
        for model in self.models:
            seeds = len(model.levels[0].configs)
            fewest += max(0, seeds - self.majority + 1)
            if self.verify and len(model.levels) > 1:
                fewest += min(self.majority, max(0, seeds - self.majority + 1))
        return fewest, len(self._where)
