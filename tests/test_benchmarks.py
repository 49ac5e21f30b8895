"""The benchmarks' entry point, where it promises something without measuring."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench_gpu

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_stage_without_a_gpu_prints_one_line_and_exits_0():
    if bench_gpu.visible_gpus():
        pytest.skip("a GPU is visible here: the stage measures instead")
    command = [sys.executable, "-m", "benchmarks", "gpu"]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0
    assert (proc.stdout + proc.stderr).splitlines() == [bench_gpu.NO_GPU]
