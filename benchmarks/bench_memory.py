"""8. A reused worker's memory: RSS after 10 and after 100 tiny trials in one process.

Trial workers run trial after trial (`reuse_actors`), so whatever a trial leaves behind adds
up. Measured in a fresh process (`python -m benchmarks.bench_memory N`), so the other
stages' models do not count: `run_trial` on tiny configs (hidden 4, seq_len 8, 64 training
sequences, one epoch, diagnostics on, rnn/lstm/gru in turn), RSS read after trials 10 and N.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks.common import Row

TRIALS = 100
TARGET_MIB = 50  # issue 24: RSS after 100 trials within 50 MiB of RSS after 10
ARCHS = ("rnn", "lstm", "gru")


def tiny_trials(count: int) -> dict[int, float]:
    """Run `count` tiny trials in this process; RSS in MiB after the 10th and the last."""
    import psutil

    from gradsweep import TrialConfig, run_trial

    rss = {}
    for i in range(count):
        run_trial(
            TrialConfig(
                task="recall",
                arch=ARCHS[i % 3],
                hidden=4,
                gap=4,
                seq_len=8,
                train_size=64,
                val_size=32,
                test_size=32,
                probe_size=8,
                batch_size=32,
                max_epochs=1,
                seed=i,
                threads=1,
            )
        )
        if i + 1 in (10, count):
            rss[i + 1] = psutil.Process().memory_info().rss / 2**20
    return rss


def worker_memory() -> list[Row]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "benchmarks.bench_memory", str(TRIALS)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    rss = {int(k): v for k, v in json.loads(proc.stdout.splitlines()[-1]).items()}
    growth = rss[TRIALS] - rss[10]
    note = (
        f"RSS {rss[10]:.0f} MiB after 10 trials, {rss[TRIALS]:.0f} MiB after {TRIALS}: "
        f"{growth:+.0f} MiB, {growth / (TRIALS - 10):.1f} MiB a trial"
    )
    return [
        Row(
            "worker memory",
            f"RSS after {TRIALS} tiny trials vs after 10",
            rss[10] / rss[TRIALS],
            rss[10] / rss[TRIALS],
            rss[10] / rss[TRIALS],
            "MiB",
            rss[TRIALS],
            rss[10],
            target=f"within {TARGET_MIB} MiB",
            note=note,
        )
    ]


if __name__ == "__main__":
    print(json.dumps(tiny_trials(int(sys.argv[1]))))
