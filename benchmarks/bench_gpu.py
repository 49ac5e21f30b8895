"""7. GPU numbers, `python -m benchmarks gpu`: taken when TensorFlow sees a GPU.

Where none is visible the stage prints one line saying so and measures nothing. Measured:
- trials per hour at 1, 2, 4 and 8 trials per GPU (`--gpus-per-trial` 1, 1/2, 1/4, 1/8, one
  CPU each) on a fixed small study (`SPEC`: 16 trials that never stop early), each through
  `gradsweep launch` on an embedded Ray; the wall time includes Ray's start and the
  workers' TensorFlow import, as a user's launch pays them;
- that memory growth lets those trials share the card: the most trial processes seen on
  the GPU at once (polling `nvidia-smi`), and that every trial finished;
- LSTM and GRU training throughput (samples/s, a monitored epoch with validation) on the
  GPU, where Keras picks the cuDNN kernel for these cells (`models.build_model` keeps its
  conditions), against the same cells on the CPU with the bench's threads, each in a fresh
  process (the CPU one with no GPU visible);
- peak GPU memory of one trial per arch (`tf.config.experimental.get_memory_info`).
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import THREADS, Poller, Row, median, timed

NO_GPU = "gpu: no GPU visible to TensorFlow on this machine; nothing measured"
SHARES = (1, 2, 4, 8)  # trials per GPU
SPEC = """
name: {name}
task: sum_sign
axes:
  arch: [lstm, gru]
  seq_len: [50, 100]
  seed: [0, 1, 2, 3]
fixed: {{hidden: 128, batch_size: 64, train_size: 8192, val_size: 1024, test_size: 1024,
        probe_size: 128}}
budget: {{max_epochs: 3, solve_threshold: 1.0}}
"""
# The throughput and memory case: one of the study's trials, its longest sequences.
CASE = {
    "task": "sum_sign",
    "seq_len": 100,
    "hidden": 128,
    "batch_size": 64,
    "train_size": 8192,
    "val_size": 1024,
    "test_size": 1024,
    "probe_size": 128,
}


def visible_gpus() -> list:
    """The GPUs TensorFlow sees (listing them does not initialise them). Without an NVIDIA
    driver there are none, and TensorFlow is not imported: its import would log lines of
    its own about the missing CUDA driver."""
    if ctypes.util.find_library("cuda") is None and not Path("/proc/driver/nvidia").exists():
        return []
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def gpu_numbers() -> list[Row]:
    """Every GPU row; call only where `visible_gpus()` is not empty."""
    from gradsweep.train import enable_memory_growth

    enable_memory_growth()  # before this process touches the GPU, as a trial worker does
    rows = [_trials_per_hour(share) for share in SHARES]
    base = rows[0].ours
    for row in rows:
        row.ratio = row.ratio_min = row.ratio_max = row.ours / base
        row.baseline = base
    return rows + [_gpu_against_cpu(arch) for arch in ("lstm", "gru")] + _peak_memory()


class GpuProcesses(Poller):
    """Polls `nvidia-smi` for the processes on the GPUs; keeps the most seen at once."""

    interval = 0.5

    def __init__(self):
        super().__init__()
        self.most, self.memory_mib = 0, 0.0
        self.available = shutil.which("nvidia-smi") is not None

    def sample(self) -> None:
        if not self.available:
            return
        query = ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"]
        out = subprocess.run(query, capture_output=True, text=True).stdout
        used = [line.split(",")[1].split()[0] for line in out.splitlines() if "," in line]
        self.most = max(self.most, len(used))
        self.memory_mib = max(self.memory_mib, sum(float(u) for u in used if u.isdigit()))


def _trials_per_hour(share: int, gpus: float = 1.0) -> Row:
    """One launch of `SPEC` with `share` trials on `gpus` GPUs (the ratio is set by the
    caller); `gpus=0` runs the same launch on CPUs only, to try the stage without a GPU."""
    from gradsweep.results import load_results

    with tempfile.TemporaryDirectory(prefix="gsb") as tmp:
        name = f"gpu-{share}"
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(SPEC.format(name=name))
        env = {**os.environ, "RAY_TMPDIR": tmp, "TF_CPP_MIN_LOG_LEVEL": "3"}
        command = [
            sys.executable,
            "-m",
            "gradsweep.cli",
            "launch",
            str(spec),
            "--storage",
            f"{tmp}/out",
            "--cpus-per-trial",
            "1",
            "--gpus-per-trial",
            f"{gpus / share}",
            "--no-tensorboard",
            "--yes",
        ]
        with GpuProcesses() as gpu:
            start = time.perf_counter()
            proc = subprocess.run(command, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"launch with {share} trials per GPU failed: {proc.stderr[-2000:]}")
        trials = load_results(f"{tmp}/out/{name}").trials
    finished = int((trials["status"] == "TERMINATED").sum())
    shared = f"at most {gpu.most} trial processes on the GPU at once, {gpu.memory_mib:.0f} MiB"
    note = (
        f"{finished} of {len(trials)} trials finished in {wall:.0f} s; "
        + (shared if gpu.available else "nvidia-smi not found: sharing not observed")
        + ("" if (os.cpu_count() or 1) > share else f"; only {os.cpu_count()} CPUs")
    )
    per_hour = finished / wall * 3600
    return Row(
        "gpu",
        f"{share} trial(s) per GPU: trials per hour (vs 1 per GPU)",
        1.0,
        1.0,
        1.0,
        "trials/h",
        per_hour,
        per_hour,
        note=note,
    )


def _samples_per_second(arch: str, gpu: bool) -> float:
    """`epoch_throughput` in a fresh process; without `gpu` TensorFlow sees no GPU there, so
    Keras runs its generic loop on the CPU (under a CPU device scope on a GPU machine it
    would still choose the cuDNN kernel)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if not gpu:
        env["CUDA_VISIBLE_DEVICES"] = "-1"
    command = [sys.executable, "-m", "benchmarks.bench_gpu", arch]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return float(proc.stdout.split()[-1])


def epoch_throughput(arch: str, epochs: int = 3) -> float:
    """Training sequences per second of a monitored epoch (validation included) of `CASE`
    in this process, on `THREADS` CPU threads; the first epoch traces and is not timed."""
    from gradsweep import TrialConfig
    from gradsweep.loop import Trainer
    from gradsweep.train import pin_threads

    pin_threads(THREADS)
    cfg = TrialConfig(arch=arch, diagnostics=False, threads=THREADS, **CASE)
    trainer = Trainer(cfg)
    trainer.run_epoch(1)
    times = [timed(lambda e=e: trainer.run_epoch(e)) for e in range(2, 2 + epochs)]
    return cfg.train_size / median(times)


def _gpu_against_cpu(arch: str) -> Row:
    gpu = _samples_per_second(arch, gpu=True)
    cpu = _samples_per_second(arch, gpu=False)
    case = f"{arch} training on the GPU (cuDNN) vs the CPU ({THREADS} threads)"
    note = "seq_len 100, hidden 128, batch 64, sum_sign, diagnostics off"
    return Row("gpu", case, gpu / cpu, gpu / cpu, gpu / cpu, "samples/s", gpu, cpu, note=note)


def _peak_memory() -> list[Row]:
    """Peak GPU memory of one one-epoch trial per arch, in this process."""
    import tensorflow as tf

    from gradsweep import TrialConfig, run_trial

    rows = []
    for arch in ("rnn", "lstm", "gru"):
        tf.config.experimental.reset_memory_stats("GPU:0")
        run_trial(TrialConfig(arch=arch, max_epochs=1, threads=None, **CASE))
        peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
        rows.append(
            Row(
                "gpu",
                f"{arch}: peak GPU memory of one trial",
                1.0,
                1.0,
                1.0,
                "MiB",
                peak,
                peak,
                note="seq_len 100, hidden 128, batch 64",
            )
        )
    return rows


if __name__ == "__main__":
    print(epoch_throughput(sys.argv[1]))
