"""4. Loading results: gradsweep's load_results against Ray's ExperimentAnalysis.

The experiment is made by Ray Tune itself (a trivial trainable reporting 20 epochs of the
same metrics and 60-value gradient profiles as gradsweep's trials), so both readers parse
Ray's own format. Ray's side is what a user would write without gradsweep:
`ExperimentAnalysis(path)`, `.dataframe()` (one row per trial) and `.trial_dataframes`
(one frame of epochs per trial). gradsweep's side: `load_results(path)` for the trials and
epochs tables, cold (no cache) and from its parquet cache.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from benchmarks.common import Row, median, timed

EPOCHS = 20
SEQ_LEN = 60


def _trainable(config):
    """Reports like gradsweep's trainable: Tune's result.json and gradsweep's epochs.jsonl."""
    import json
    import random

    from ray import tune

    trial_id = tune.get_context().get_trial_id()
    log = Path(config["experiment"]) / trial_id / "epochs.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(config["trial"]["seed"])
    for epoch in range(1, EPOCHS + 1):
        row = {
            "epoch": epoch,
            "samples_seen": epoch * 4096,
            "train_loss": rng.random(),
            "train_acc": rng.random(),
            "val_loss": rng.random(),
            "val_acc": rng.random(),
            "grad_norm_mean": rng.random(),
            "grad_norm_max": rng.random(),
            "grad_norm_input_kernel": rng.random(),
            "grad_norm_recurrent_kernel": rng.random(),
            "grad_norm_bias": rng.random(),
            "grad_norm_head": rng.random(),
            "clip_fraction": 0.0,
            "signal_grad_ratio": rng.random(),
            "spectral_radius": 1.0,
            "time_s": 0.1,
            "node": "n",
            "pid": 1,
            "grad_profile": [rng.random() for _ in range(SEQ_LEN)],
        }
        if epoch == EPOCHS:
            row["final"] = {
                "solved": False,
                "samples_to_solve": None,
                "diverged": False,
                "epochs_run": EPOCHS,
                "test_acc": rng.random(),
                "wall_s": 2.0,
            }
        with log.open("a") as stream:
            stream.write(json.dumps({"trial_id": trial_id, **row}) + "\n")
        tune.report(row)


def generate(path: Path, trials: int) -> float:
    """A Ray Tune experiment of `trials` trials at `path`; returns the seconds it took."""
    import os

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray
    from ray import tune

    start = time.perf_counter()
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    configs = [
        {
            "task": "recall",
            "arch": "rnn",
            "gap": 10 + i % 50,
            "seq_len": SEQ_LEN,
            "hidden": 64,
            "seed": i,
        }
        for i in range(trials)
    ]
    tune.Tuner(
        tune.with_resources(_trainable, {"cpu": 1}),
        param_space={"trial": tune.grid_search(configs), "experiment": str(path)},
        tune_config=tune.TuneConfig(reuse_actors=True, trial_dirname_creator=lambda t: t.trial_id),
        run_config=tune.RunConfig(name=path.name, storage_path=str(path.parent), verbose=0),
    ).fit()
    ray.shutdown()
    return time.perf_counter() - start


def replicate(path: Path, total: int) -> None:
    """Grow a Tune experiment to `total` trials by copying its trials under new ids.

    Tune's trial ids are `<5 hex>_<5 digits>`; a copy's id has the same length, so it can
    replace the original's byte for byte everywhere, in the pickled parts of Tune's state
    too, without disturbing their framing. ExperimentAnalysis then reads `total` trials.
    """
    import json

    state_file = sorted(path.glob("experiment_state-*.json"))[-1]
    state = json.loads(state_file.read_text())
    originals = list(state["trial_data"])
    prefix = json.loads(originals[0][0])["trial_id"].split("_")[0]
    for k in range(len(originals), total):
        trial_json, runtime_json = originals[k % len(originals)]
        old = json.loads(trial_json)["trial_id"]
        new = f"{prefix}_{k:05d}"
        assert len(new) == len(old)
        shutil.copytree(path / old, path / new)
        for name in ("result.json", "params.json", "progress.csv", "epochs.jsonl"):
            file = path / new / name
            if file.exists():
                file.write_text(file.read_text().replace(old, new))
        trial = json.loads(trial_json)
        for value in trial.values():
            if isinstance(value, dict) and value.get("_type") == "CLOUDPICKLE_FALLBACK":
                blob = bytes.fromhex(value["value"]).replace(old.encode(), new.encode())
                value["value"] = blob.hex()
        text = json.dumps(trial).replace(old, new)
        state["trial_data"].append([text, runtime_json.replace(old, new)])
    state_file.write_text(json.dumps(state))


def ray_analysis(path: Path) -> None:
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(str(path))
    analysis.dataframe()
    frames = analysis.trial_dataframes
    assert len(frames) > 0


def ours_cold(path: Path) -> None:
    from gradsweep.results import CACHE_DIR, load_results

    shutil.rmtree(path / CACHE_DIR, ignore_errors=True)
    rs = load_results(path)
    assert len(rs.trials) > 0 and len(rs.epochs) > 0


def ours_cached(path: Path) -> None:
    from gradsweep.results import load_results

    rs = load_results(path)
    assert len(rs.trials) > 0 and len(rs.epochs) > 0


def loading(path: Path, repeats: int = 3) -> list[Row]:
    ray_times, cold, cached = [], [], []
    for _ in range(repeats):  # alternate the readers
        ray_times.append(timed(lambda: ray_analysis(path)))
        cold.append(timed(lambda: ours_cold(path)))
        cached.append(timed(lambda: ours_cached(path)))
    rows = []
    for case, ours, target in (("cold", cold, ">= 3"), ("parquet cache", cached, ">= 30")):
        pairs = [r / o for r, o in zip(ray_times, ours, strict=True)]
        rows.append(
            Row(
                "results loading vs ExperimentAnalysis",
                f"1,000 trials x 20 epochs, {case}",
                median(pairs),
                min(pairs),
                max(pairs),
                "s",
                median(ours),
                median(ray_times),
                target=target,
            )
        )
    return rows


if __name__ == "__main__":  # python -m benchmarks.bench_results generate DIR REAL TOTAL
    seconds = generate(Path(sys.argv[2]), int(sys.argv[3]))
    replicate(Path(sys.argv[2]), int(sys.argv[4]))
    print(f"{seconds:.1f}")


def s3_loading(path: Path, repeats: int = 3) -> list[Row]:
    """The same experiment uploaded to an S3 endpoint on loopback (moto's server): our first
    load (mirror download and build) against our cached one and against Ray's
    ExperimentAnalysis on the same URI."""
    import os
    import tempfile

    import pyarrow.fs as pafs

    from tests.s3server import s3_server

    with s3_server("bench") as env:
        os.environ.update(env)
        uri = "s3://bench/synthetic"
        fs, root = pafs.FileSystem.from_uri(uri)
        pafs.copy_files(
            str(path), root, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs
        )
        from gradsweep.results import load_results

        ray_times, first, cached = [], [], []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory(prefix="gsb-cache") as cache:
                first.append(timed(lambda c=cache: load_results(uri, cache_dir=c)))
                cached.append(timed(lambda c=cache: load_results(uri, cache_dir=c)))
            ray_times.append(timed(lambda: ray_analysis(uri)))
    rows = []
    for case, ours, baseline, target, name in (
        ("first load vs cached load", cached, first, ">= 10", "ours first"),
        ("first load vs ExperimentAnalysis", first, ray_times, "", "Ray"),
        ("cached load vs ExperimentAnalysis", cached, ray_times, "", "Ray"),
    ):
        pairs = [b / o for b, o in zip(baseline, ours, strict=True)]
        rows.append(
            Row(
                "results loading from S3 (moto, loopback)",
                f"1,000 trials x 20 epochs, {case}",
                median(pairs),
                min(pairs),
                max(pairs),
                "s",
                median(ours),
                median(baseline),
                target=target,
                note=f"baseline: {name}",
            )
        )
    return rows
