"""`make bench`: run every benchmark, print the ratio table, save it as JSON.

`python -m benchmarks WORD ...` runs the stages whose names contain a WORD; `gpu` runs only
on a machine where TensorFlow sees a GPU, and elsewhere prints one line and exits 0.

Each comparison is measured side by side in this run (the machine is shared and noisy):
the two sides alternate, repeat, and the table shows the median ratio with its min and max.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import THREADS, Row


def main() -> int:
    from benchmarks import bench_gpu

    only = set(sys.argv[1:])
    if only == {"gpu"} and not bench_gpu.visible_gpus():  # one line, before TF's own logs
        print(bench_gpu.NO_GPU)
        return 0
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS)
    from gradsweep.train import enable_memory_growth

    enable_memory_growth()  # else the first stage on a GPU takes the card from the gpu stage
    from rich.console import Console
    from rich.table import Table

    from benchmarks import (
        bench_frontier,
        bench_memory,
        bench_notebook,
        bench_step,
        bench_sweep,
    )

    console = Console(stderr=True)
    rows: list[Row] = []
    started = time.perf_counter()
    stages = [
        ("training step vs keras fit", bench_step.training_step),
        ("validation checks inside an epoch", bench_step.validation_checks),
        ("FLOP/s vs matmul peak", bench_step.hardware_ceiling),
        ("cell train step vs lstm", bench_step.cells_vs_lstm),
        ("against the notebook's loop", bench_notebook.against_notebook),
        ("sweep scaling and memory", bench_sweep.sweep_scaling),
        ("results loading", _results_loading),
        ("frontier search vs grid", bench_frontier.frontier_vs_grid),
        ("frontier walk: lazy seeds vs all seeds at once", bench_frontier.lazy_seeds),
        ("worker memory over 100 trials", bench_memory.worker_memory),
        ("gpu: trials per hour, GPU vs CPU, shared card", bench_gpu.gpu_numbers),
    ]
    for name, stage in stages:
        if only and not any(word in name for word in only):
            continue
        if stage is bench_gpu.gpu_numbers and not bench_gpu.visible_gpus():
            print(bench_gpu.NO_GPU)
            continue
        console.print(f"[bold]{name}[/] ...")
        t = time.perf_counter()
        rows += stage()
        console.print(f"  done in {time.perf_counter() - t:.0f} s")
    if not rows:  # only stages that had nothing to measure here (no GPU)
        return 0
    table = Table(title=f"gradsweep benchmarks ({time.perf_counter() - started:.0f} s)")
    for column in ("benchmark", "case", "ratio (min-max)", "ours", "baseline", "target", "note"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.benchmark,
            row.case,
            f"{row.ratio:.3g} ({row.ratio_min:.3g}-{row.ratio_max:.3g})",
            f"{row.ours:.4g} {row.unit}",
            f"{row.baseline:.4g} {row.unit}",
            row.target,
            row.note,
        )
    Console(width=200).print(table)
    out = Path(__file__).parent / "results" / time.strftime("%Y-%m-%dT%H-%M-%S.json")
    out.write_text(
        json.dumps(
            {
                "machine": platform.node(),
                "python": platform.python_version(),
                "rows": [r.as_dict() for r in rows],
            },
            indent=1,
            default=str,
        )
    )
    print(f"saved {out}")
    return 0


def _results_loading() -> list[Row]:
    """A 1,000-trial experiment made by Ray Tune (see bench_results), then both readers."""
    import subprocess

    with tempfile.TemporaryDirectory(prefix="gsb") as tmp:
        path = Path(tmp) / "synthetic"
        env = {**os.environ, "RAY_TMPDIR": tmp}
        subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_results", "generate", str(path), "50", "1000"],
            check=True,
            env=env,
            capture_output=True,
        )
        return bench_results_loading(path)


def bench_results_loading(path: Path) -> list[Row]:
    from benchmarks import bench_results

    return bench_results.loading(path) + bench_results.s3_loading(path)


if __name__ == "__main__":
    sys.exit(main())
