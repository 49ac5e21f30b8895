"""6. Frontier search against the full grid on the same spec; the lazy walk against the eager.

Both run as `gradsweep launch` on this machine's embedded Ray, one after the other. Compared:
the frontier each finds (must be equal), total trial CPU-seconds (the sum of the trials'
own wall times; one thread per trial) and the launch's wall time.

`lazy_seeds` compares the walk with the walk before lazy seeds (`frontier_eager.py`, frozen)
on made-up truth tables in simulated time, no training: trials, CPU and wall per study, and
how late the last model starts.
"""

from __future__ import annotations

import heapq
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row
from benchmarks.frontier_eager import FrontierSearch as EagerSearch
from gradsweep.frontier_search import FINISHED, FrontierSearch

# 2 models x 10 gaps x 1 seed; seq_len grows with gap, so the top levels are the costly
# ones. Measured when the spec was chosen (in process, one thread): the GRU solved gap 2
# only and SimpleRNN up to 12 in this budget; the row's note prints the frontier found.
# A bigger budget (12 epochs of 2,048, gaps to 64) moved them to 12 and 32, and the
# search then saved only 1.9x CPU and 1.4x wall: savings grow with the grid's hopeless part.
SPEC = """
name: {name}
task: recall
axes:
  arch: [rnn, gru]
  gap: [2, 4, 6, 8, 12, 16, 32, 64, 128, 256]
  seq_len: gap+4
  seed: [0]
fixed: {{hidden: 16, lr: 0.01, batch_size: 32, train_size: 1024, val_size: 256,
        test_size: 256, probe_size: 32}}
budget: {{max_epochs: 5}}
"""


def _launch(spec_file: Path, storage: str, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "gradsweep.cli", "launch", str(spec_file), "--storage", storage],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"launch failed: {proc.stderr[-2000:]}")
    return time.perf_counter() - start


def frontier_vs_grid() -> list[Row]:
    from gradsweep.analysis import frontier
    from gradsweep.results import load_results

    with tempfile.TemporaryDirectory(prefix="gsb") as tmp:
        env = {**os.environ, "RAY_TMPDIR": tmp, "TF_CPP_MIN_LOG_LEVEL": "3"}
        grid_spec, walk_spec = Path(tmp) / "grid.yaml", Path(tmp) / "walk.yaml"
        grid_spec.write_text(SPEC.format(name="grid"))
        # lookahead 1: once the GRU's walk ends, SimpleRNN's uses the idle slot
        search = "search: {method: frontier, lookahead: 1}\n"
        walk_spec.write_text(SPEC.format(name="walk") + search)
        walk_wall = _launch(walk_spec, f"{tmp}/out", env)
        grid_wall = _launch(grid_spec, f"{tmp}/out", env)
        walk = load_results(f"{tmp}/out/walk").trials
        grid = load_results(f"{tmp}/out/grid").trials
    found = frontier(walk).set_index("arch")["frontier"]
    expected = frontier(grid).set_index("arch")["frontier"]
    same = found.equals(expected)
    walk_cpu, grid_cpu = float(walk["wall_s"].sum()), float(grid["wall_s"].sum())
    note = (
        f"frontier {dict(found.astype(object))}, "
        + ("the same as the grid's" if same else f"DIFFERENT from the grid's {dict(expected)}")
        + f"; {len(walk)} of {len(grid)} trials ran"
    )
    return [
        Row(
            "frontier search",
            "vs full grid: total trial CPU-seconds",
            grid_cpu / walk_cpu,
            grid_cpu / walk_cpu,
            grid_cpu / walk_cpu,
            "s",
            walk_cpu,
            grid_cpu,
            target=">= 3",
            note=note,
        ),
        Row(
            "frontier search",
            "vs full grid: wall time",
            grid_wall / walk_wall,
            grid_wall / walk_wall,
            grid_wall / walk_wall,
            "s",
            walk_wall,
            grid_wall,
            target=">= 2",
            note="one launch each, embedded Ray, 2 CPUs; each launch also pays ~10 s of Ray "
            "start, TensorFlow import and shutdown",
        ),
    ]


# Lazy seeds: the walk against the walk before it, on made-up truth tables (no training).
# Two shapes: the unit tests' random monotone tables (3 models, 6 gaps, each seed its own
# limit: many split levels), and frontier_scan's (6 models, 12 gaps, verify; each model one
# limit that a seed misses by a level with probability 0.2: mostly unanimous levels, as in
# the real study, where 28 levels were unanimous). Durations model the study: a trial costs
# seq_len (gap + 10) per epoch; a failure runs the 40-epoch budget, a solve 1-10 epochs.
TABLES = 200
TEST_SHAPE = {"models": 3, "gaps": (2, 4, 8, 16, 32, 64), "seeds": 3, "verify": False}
SCAN_GAPS = (5, 10, 20, 30, 40, 50, 60, 80, 100, 120, 150, 200)
SCAN_SHAPE = {"models": 6, "gaps": SCAN_GAPS, "seeds": 3, "verify": True}


def _truth(shape: dict, rng: random.Random) -> dict[tuple[int, int], int]:
    """(model, seed) -> the largest gap that seed solves (0: none)."""
    gaps = (0, *shape["gaps"])
    if shape is TEST_SHAPE:  # the tests' tables: every seed its own random limit
        return {(m, s): rng.choice(gaps) for m in range(shape["models"]) for s in range(3)}
    limits = {}
    for m in range(shape["models"]):
        at = rng.randrange(len(gaps))
        for s in range(shape["seeds"]):
            miss = rng.choice((-1, 1)) if rng.random() < 0.2 else 0
            limits[(m, s)] = gaps[min(len(gaps) - 1, max(0, at + miss))]
    return limits


def _simulate(walk, limits: dict, slots: int, rng: random.Random) -> tuple[dict, list]:
    """Drive `walk` with `slots` trials at once in simulated time: what it cost (trials,
    CPU and wall in seq_len-epochs, when the last model started) and the outcomes."""
    clock, running, ran, cpu, started = 0.0, [], [], 0.0, {}
    while True:
        suggestion = walk.suggest() if len(running) < slots else None
        if isinstance(suggestion, dict):
            solves = suggestion["gap"] <= limits[(suggestion["model"], suggestion["seed"])]
            epochs = rng.randint(1, 10) if solves else 40
            cost = epochs * (suggestion["gap"] + 10)
            heapq.heappush(running, (clock + cost, len(ran), suggestion, solves))
            ran.append((suggestion, solves))
            cpu += cost
            started.setdefault(suggestion["model"], clock)
            continue
        if not running:
            assert suggestion == FINISHED, "waiting with nothing running"
            break
        clock, _, config, solves = heapq.heappop(running)
        walk.record(config, solves)
    assert len({str(c) for c, _ in ran}) == len(ran), "a config ran twice"
    cost = {"trials": len(ran), "cpu": cpu, "wall": clock, "all_started": max(started.values())}
    return cost, ran


def _frontiers(outcomes, gaps, majority: int = 2) -> dict[int, int]:
    """Per model, the last gap before the first with fewer than `majority` solves."""
    wins: dict[tuple[int, int], int] = {}
    for config, solves in outcomes:
        key = (config["model"], config["gap"])
        wins[key] = wins.get(key, 0) + solves
    found = {}
    for model in {m for m, _ in wins}:
        below = [g for g in gaps if wins.get((model, g), 0) < majority]
        found[model] = max((g for g in gaps if g < below[0]), default=0) if below else gaps[-1]
    return found


def _configs(shape: dict) -> list[dict]:
    return [
        {"model": m, "gap": g, "seed": s}
        for m in range(shape["models"])
        for g in shape["gaps"]
        for s in range(shape["seeds"])
    ]


def _compare(shape: dict, slots: int) -> dict[str, list[float]]:
    """Both walks on the same `TABLES` truth tables and durations; per-table costs."""
    configs = _configs(shape)
    costs: dict[str, list[float]] = {}
    for table in range(TABLES):
        limits = _truth(shape, random.Random(table))
        truth = [(c, c["gap"] <= limits[(c["model"], c["seed"])]) for c in configs]
        expected = _frontiers(truth, shape["gaps"])
        for name, cls in (("lazy", FrontierSearch), ("eager", EagerSearch)):
            walk = cls(configs, "gap", ["model"], 2, 0, shape["verify"])
            cost, ran = _simulate(walk, limits, slots, random.Random(table))
            assert _frontiers(ran, shape["gaps"]) == expected, f"{name}: frontier differs"
            for key, value in cost.items():
                costs.setdefault(f"{name}_{key}", []).append(value)
    return costs


def lazy_seeds() -> list[Row]:
    """Trials, CPU and wall time of the lazy walk against the eager one (simulated)."""
    rows = []
    for label, shape in (("tests' tables", TEST_SHAPE), ("frontier_scan's shape", SCAN_SHAPE)):
        for slots in (2, 8):
            costs = _compare(shape, slots)
            mean = {k: statistics.fmean(v) for k, v in costs.items()}
            pairs = zip(costs["eager_trials"], costs["lazy_trials"], strict=True)
            ratios = [eager / lazy for eager, lazy in pairs]
            case = f"{label}, {slots} slots: trials per study"
            eager_over_lazy = {k: mean[f"eager_{k}"] / mean[f"lazy_{k}"] for k in ("cpu", "wall")}
            started = {k: mean[f"{k}_all_started"] / mean[f"{k}_wall"] for k in ("lazy", "eager")}
            note = (
                f"{TABLES} tables, the full grid's frontier every time; eager/lazy CPU "
                f"{eager_over_lazy['cpu']:.2f}, wall {eager_over_lazy['wall']:.2f}; the last "
                f"model starts at {started['lazy']:.0%} (lazy) / {started['eager']:.0%} (eager) "
                "of the wall time"
            )
            rows.append(
                Row(
                    "lazy seeds vs all seeds at once",
                    case,
                    mean["eager_trials"] / mean["lazy_trials"],
                    min(ratios),
                    max(ratios),
                    "trials",
                    mean["lazy_trials"],
                    mean["eager_trials"],
                    note=note,
                    extra=mean,
                )
            )
    return rows
