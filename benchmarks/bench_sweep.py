"""3. A 16-trial sweep through `gradsweep launch` against the same trials run one after
another in one process; 6. peak memory of the driver and of a trial worker.

Fair baseline: what a user without gradsweep's sweep layer would do on this machine, a loop
over the grid calling the same `run_trial` in one process with TensorFlow on both cores.
The sweep runs two one-CPU trials at a time on an embedded Ray. Its wall time includes
everything: Ray's start, the workers' TensorFlow import, reporting and saved states.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.common import Poller, Row
from gradsweep import SweepSpec, run_trial
from gradsweep.results import load_results

# 16 trials of about 3-10 s each on this machine. sum_sign never reaches validation accuracy
# 1.0 here, so no trial stops early and the durations are what the budget says.
SPEC = """
name: bench
task: sum_sign
axes:
  arch: [rnn, gru]
  seq_len: [20, 30, 40, 50]
  seed: [0, 1]
fixed: {hidden: 64, batch_size: 64, train_size: 4096, val_size: 512, test_size: 512,
        probe_size: 128}
budget: {max_epochs: 5, solve_threshold: 1.0}
"""


class PeakMemory(Poller):
    """Polls the RSS of a process tree and keeps the peak of the root and of each child."""

    def __init__(self, pid: int):
        super().__init__()
        self.pid, self.driver, self.worker = pid, 0, 0

    def sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
            self.driver = max(self.driver, root.memory_info().rss)
            for child in root.children(recursive=True):
                if child.name().startswith("ray::"):
                    self.worker = max(self.worker, child.memory_info().rss)
        except psutil.Error:
            pass


def _startup_costs() -> dict[str, float]:
    """Seconds to start an embedded Ray, and to import TensorFlow in a fresh process."""
    code_ray = (
        "import time, ray; t = time.perf_counter(); "
        "ray.init(num_cpus=2, include_dashboard=False); "
        "print(time.perf_counter() - t); ray.shutdown()"
    )
    code_tf = (
        "import time; t = time.perf_counter(); import tensorflow; print(time.perf_counter() - t)"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    ray_s = float(
        subprocess.run(
            [sys.executable, "-c", code_ray], capture_output=True, text=True, env=env, check=True
        ).stdout.split()[-1]
    )
    tf_s = float(
        subprocess.run(
            [sys.executable, "-c", code_tf], capture_output=True, text=True, env=env, check=True
        ).stdout.split()[-1]
    )
    return {"ray_start_s": ray_s, "tensorflow_import_s": tf_s}


def sweep_scaling() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="gsb") as tmp:
        spec_file = Path(tmp) / "bench.yaml"
        spec_file.write_text(SPEC)
        trials = SweepSpec.from_yaml(spec_file).expand().trials
        start = time.perf_counter()
        for cfg in trials:
            run_trial(cfg)
        sequential = time.perf_counter() - start

        env = {**os.environ, "RAY_TMPDIR": tmp, "TF_CPP_MIN_LOG_LEVEL": "3"}
        start = time.perf_counter()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gradsweep.cli",
                "launch",
                str(spec_file),
                "--storage",
                f"{tmp}/out",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        with PeakMemory(proc.pid) as memory:
            _, err = proc.communicate()
        swept = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"sweep failed: {err.decode()[-2000:]}")
        inside = float(load_results(f"{tmp}/out/bench").trials["wall_s"].sum())
    slots = 2
    overhead = (swept * slots - inside) / len(trials)
    costs = _startup_costs()
    speedup = sequential / swept
    note = (
        f"{len(trials)} trials: sequential {sequential:.0f} s, sweep {swept:.0f} s; "
        f"orchestration {overhead:.2f} s per trial-slot (Ray start {costs['ray_start_s']:.1f} s "
        f"once, TensorFlow import {costs['tensorflow_import_s']:.1f} s per worker)"
    )
    return [
        Row(
            "sweep scaling",
            "16 trials, 2 CPUs: speed-up over a loop",
            speedup,
            speedup,
            speedup,
            "x",
            swept,
            sequential,
            target=">= 1.5",
            note=note,
            extra=costs,
        ),
        Row(
            "sweep scaling",
            "orchestration per trial",
            overhead,
            overhead,
            overhead,
            "s",
            overhead,
            0.5,
            target="<= 0.5 s",
            note="(sweep wall x 2 slots - time inside trials) / trials",
        ),
        Row(
            "memory",
            "peak RSS, driver / one trial worker",
            memory.driver / 2**20,
            memory.driver / 2**20,
            memory.worker / 2**20,
            "MiB",
            memory.driver / 2**20,
            memory.worker / 2**20,
            note="ratio column = driver MiB; baseline column = worker MiB",
        ),
    ]
