"""Sweeps on a real, embedded Ray with tiny trials."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from gradsweep.cli import main
from gradsweep.config import TrialConfig
from gradsweep.results import load_results
from tests.helpers import SEARCH_SPEC

ROOT = Path(__file__).parent.parent

# Every per-epoch measurement, as Tune's TensorBoard logger names it (`ray/tune/<name>`).
TENSORBOARD_SCALARS = [
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "grad_norm_mean",
    "grad_norm_max",
    "grad_norm_input_kernel",
    "grad_norm_recurrent_kernel",
    "grad_norm_bias",
    "grad_norm_head",
    "clip_fraction",
    "signal_grad_ratio",
    "spectral_radius",
]

TINY_SPEC = """
name: tiny
task: recall
axes:
  arch: [rnn, gru]
  gap: [2]
  seq_len: gap+3
  seed: [0, 1]
fixed: {hidden: 8, batch_size: 32, train_size: 256, val_size: 128, test_size: 128, probe_size: 32}
budget: {max_epochs: 3}
max_failures: 1
"""


def tensorboard_events(trial_dir: Path) -> tuple[dict, dict]:
    """A trial's event file as TensorBoard's own reader reads it: its tags, and the
    hyperparameters its HParams session holds (name -> protobuf Value)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    (events,) = trial_dir.glob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    start = plugin_data_pb2.HParamsPluginData.FromString(
        accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    ).session_start_info.hparams
    return accumulator.Tags(), dict(start)


def gradsweep(*args, env, cwd):
    return subprocess.run(
        [sys.executable, "-m", "gradsweep.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """`sweeps/smoke.yaml` launched once (6 trials, embedded Ray) for the tests below, each
    of which checks one promise of the finished sweep."""
    cwd = tmp_path_factory.mktemp("smoke")
    ray_tmp = tempfile.mkdtemp(prefix="gsray-", dir="/tmp")  # short: Ray's socket paths
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = gradsweep("launch", str(ROOT / "sweeps/smoke.yaml"), env=env, cwd=cwd)
    yield SimpleNamespace(proc=proc, env=env, cwd=cwd, experiment=cwd / "results" / "smoke")
    shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.mark.integration
def test_smoke_sweep_exits_0_and_says_every_trial_finished(smoke):
    assert smoke.proc.returncode == 0, smoke.proc.stderr[-2000:]
    assert re.search(r"6/6 trials finished in \d+:\d\d:\d\d on", smoke.proc.stdout)
    assert "Traceback" not in smoke.proc.stderr


@pytest.mark.integration
def test_progress_on_a_pipe_is_plain_lines_ending_at_all_done(smoke):
    lines = [line for line in smoke.proc.stderr.splitlines() if line.startswith("sweep: ")]
    assert lines and "sweep: 6/6 done, 0 running, 0 failed, 0 pending" in lines[-1]
    assert "elapsed 0:0" in lines[-1]
    # 2 slots (2 CPUs): while trials wait, a line is not written between one trial's end
    # and the next one's start
    waiting = [line for line in lines if not re.search(r" 0 pending", line)]
    assert waiting and all(", 2 running," in line for line in waiting), lines


@pytest.mark.integration
def test_every_trial_of_the_smoke_sweep_is_read_back_finished(smoke):
    trials = load_results(smoke.experiment).trials
    assert len(trials) == 6 and set(trials["status"]) == {"TERMINATED"}


@pytest.mark.integration
def test_trials_reuse_their_worker_processes(smoke):
    """Every trial ran in one of at most as many processes as concurrent slots (2 CPUs)."""
    pids = {
        json.loads(line)["pid"]
        for f in smoke.experiment.glob("*/result.json")
        for line in f.read_text().splitlines()
    }
    assert 1 <= len(pids) <= 2


@pytest.mark.integration
def test_tensorboard_reads_every_metric_the_profile_and_the_config(smoke):
    """TensorBoard's own reader parses every trial's events: each metric, the profile as a
    histogram, and the config in the HParams dashboard (how a run is told apart)."""
    for trial_id in load_results(smoke.experiment).trials["trial_id"]:
        tags, start = tensorboard_events(smoke.experiment / trial_id)
        for metric in TENSORBOARD_SCALARS:
            assert f"ray/tune/{metric}" in tags["scalars"], (metric, trial_id)
        assert "ray/tune/grad_profile" in tags["histograms"]
        assert start["trial/arch"].string_value in {"rnn", "lstm", "gru"}
        assert start["trial/gap"].number_value in {2, 6}
        # every field, a None one too: clipping is off in every smoke trial
        assert {f"trial/{field}" for field in TrialConfig.model_fields} <= set(start)
        assert start["trial/clip_norm"].string_value == "off"


@pytest.mark.integration
def test_finished_trials_keep_no_checkpoint_and_the_manifest_says_what_ran(smoke):
    assert not list(smoke.experiment.glob("*/checkpoint_*"))
    manifest = json.loads((smoke.experiment / "gradsweep.json").read_text())
    assert manifest["trials"] == 6 and manifest["versions"]["ray"].startswith("2.60")
    assert manifest["spec"]["name"] == "smoke"


@pytest.mark.integration
def test_status_reads_the_finished_sweep_back_without_ray(smoke):
    proc = gradsweep("status", "smoke", env=smoke.env, cwd=smoke.cwd)
    assert proc.returncode == 0 and "6 TERMINATED" in proc.stdout


@pytest.mark.integration
def test_launching_a_name_that_exists_is_refused_pointing_to_resume(smoke):
    before = sorted(p.name for p in smoke.experiment.iterdir())
    proc = gradsweep("launch", str(ROOT / "sweeps/smoke.yaml"), env=smoke.env, cwd=smoke.cwd)
    assert proc.returncode == 2 and "gradsweep resume smoke" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in smoke.experiment.iterdir()) == before  # nothing written


@pytest.mark.integration
def test_failing_and_diverging_trials_on_uri_storage_do_not_stop_the_sweep(ray_env, tmp_path):
    """One sweep, three promises: a trial that raises is retried, then reported; a trial
    that diverges is a result, not an error; workers write through a storage URI."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC.replace("arch: [rnn, gru]", "arch: [rnn]\n  lr: [0.003, 1.0e+38]"))
    env = {**ray_env, "GRADSWEEP_FAULT_RAISE": "seed=1"}
    uri = f"file://{tmp_path}/out"
    proc = gradsweep(
        "launch", str(spec), "--storage", uri, "--no-tensorboard", env=env, cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "2/4 trials finished (1 diverged)" in proc.stdout
    assert f"results in {uri}/tiny" in proc.stdout
    assert "2 trial(s) failed after all retries" in proc.stderr
    assert "error.txt" in proc.stderr and "Traceback" not in proc.stderr
    trials = load_results(tmp_path / "out" / "tiny").trials
    assert sorted(trials["status"]) == ["ERROR", "ERROR", "TERMINATED", "TERMINATED"]
    assert set(trials.loc[trials["status"] == "ERROR", "seed"]) == {1}
    done = trials[trials["status"] == "TERMINATED"]
    assert done.loc[done["lr"] > 1, "diverged"].all()
    assert not done.loc[done["lr"] < 1, "diverged"].any()
    assert (tmp_path / "out" / "tiny" / "gradsweep.json").exists()
    assert not list((tmp_path / "out" / "tiny").glob("*/events.out.tfevents.*"))  # turned off
    assert list((tmp_path / "out" / "tiny").glob("*/result.json"))  # Tune's JSON log stays
    # max_failures: 1 means one retry: the fault was raised twice per failing trial
    for trial_id in trials.loc[trials["status"] == "ERROR", "trial_id"]:
        text = (tmp_path / "out" / "tiny" / trial_id / "error.txt").read_text()
        assert text.count("Failure #") == 2 and "fault injected" in text


@pytest.mark.integration
def test_tensorboard_shows_clip_norm_for_every_trial_of_a_clip_off_on_sweep(ray_env, tmp_path):
    spec = tmp_path / "clip.yaml"
    text = TINY_SPEC.replace("arch: [rnn, gru]", "arch: [rnn]\n  clip_norm: [null, 1.0]")
    spec.write_text(
        text.replace("seed: [0, 1]", "seed: [0]").replace("max_epochs: 3", "max_epochs: 1")
    )
    proc = gradsweep("launch", str(spec), env=ray_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    experiment = tmp_path / "results" / "tiny"
    trials = load_results(experiment).trials
    shown = {}
    for trial_id, clip in zip(trials["trial_id"], trials["clip_norm"], strict=True):
        _, start = tensorboard_events(experiment / trial_id)
        assert {f"trial/{field}" for field in TrialConfig.model_fields} <= set(start)
        shown[None if pd.isna(clip) else clip] = start["trial/clip_norm"].string_value
    assert shown == {None: "off", 1.0: "1.0"}  # one type (text) for the column in both runs


@pytest.mark.parametrize(
    "text",
    [
        TINY_SPEC.replace("arch:", "colour:"),
        TINY_SPEC.replace("[rnn, gru]", "[]"),
        TINY_SPEC.replace("hidden: 8", "hidden: big"),
        TINY_SPEC.replace("gap+3", "gap-3"),
        TINY_SPEC.replace("[rnn, gru]", "[rnn, tcn]"),
        TINY_SPEC.replace("hidden: 8", "train_size: -5"),
        TINY_SPEC.replace("gap+3", "gap^2"),
        TINY_SPEC.replace("task: recall", "task: sum_sign"),
        TINY_SPEC + "search: {method: frontier, majority: 3}\n",  # 2 seeds
        TINY_SPEC + "search: {method: frontier, axis: arch}\n".replace("arch", "lr"),
    ],
)
def test_bad_specs_exit_2_start_no_ray_and_write_nothing(text, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    before = sorted(tmp_path.rglob("*"))
    assert main(["launch", str(spec)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert sorted(tmp_path.rglob("*")) == before
    assert "ray" not in sys.modules or not __import__("ray").is_initialized()


def test_grid_over_max_trials_needs_yes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "big.yaml"
    spec.write_text(TINY_SPEC + "max_trials: 3\n")
    assert main(["launch", str(spec)]) == 2
    assert "pass --yes" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "x" * 200])
def test_bad_names_are_refused(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["launch", str(ROOT / "sweeps/smoke.yaml"), "--name", name]) == 2
    assert "--name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_validate_prints_count_and_estimate(capsys):
    assert main(["validate", str(ROOT / "sweeps/gap_scan.yaml")]) == 0
    out = capsys.readouterr().out
    assert "216 trials" in out and "CPU-hours" in out and "frontier search" not in out
    assert main(["validate", str(ROOT / "sweeps/frontier_scan.yaml")]) == 0
    assert "between 24 and 216 trials" in capsys.readouterr().out


def test_unknown_experiment_exits_2(tmp_path, capsys):
    assert main(["status", "nope", "--storage", str(tmp_path)]) == 2
    assert "not an experiment directory" in capsys.readouterr().err


def test_storage_uri_is_kept_whole_in_the_plan(tmp_path):
    """Workers, the manifest and the outcome all reach the experiment through its URI."""
    from gradsweep.spec import SweepSpec
    from gradsweep.sweep import prepare

    plan = prepare(SweepSpec.from_text(TINY_SPEC), storage=f"file://{tmp_path}/out")
    assert plan.experiment == f"file://{tmp_path}/out/tiny"
    assert list(tmp_path.iterdir()) == []  # prepare writes nothing


@pytest.mark.integration
def test_frontier_search_finds_the_frontier_of_the_full_grid(ray_env, tmp_path):
    """Trials are deterministic per config, so both runs see the same outcomes: the walk
    must reach the same frontier while running only what it needs."""
    from gradsweep.analysis import frontier

    (tmp_path / "grid.yaml").write_text(SEARCH_SPEC.format(name="grid"))
    (tmp_path / "walk.yaml").write_text(
        SEARCH_SPEC.format(name="walk") + "search: {method: frontier, axis: gap}\n"
    )
    for name in ("grid", "walk"):
        proc = gradsweep("launch", f"{name}.yaml", "--storage", "out", env=ray_env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(frontier search: 12 grid points)" in proc.stdout
    grid = load_results(tmp_path / "out" / "grid").trials
    walk = load_results(tmp_path / "out" / "walk").trials
    assert len(grid) == 12 and set(walk["status"]) == {"TERMINATED"}
    # the progress total shrank with the walk: the points it skipped never show as pending
    last = [line for line in proc.stderr.splitlines() if line.startswith("sweep: ")][-1]
    assert f"sweep: {len(walk)}/{len(walk)} done, 0 running, 0 failed, 0 pending" in last
    expected, found = frontier(grid).set_index("arch"), frontier(walk).set_index("arch")
    assert found["frontier"].equals(expected["frontier"])
    assert found["above"].equals(expected["above"])
    # each model ran its levels up to and including the first failed one, nothing above
    for arch, sub in walk.groupby("arch"):
        failed = expected.loc[arch, "above"]
        top = int(failed) if not pd.isna(failed) else int(grid["gap"].max())
        assert sorted(sub["gap"]) == sorted(g for g in grid["gap"].unique() if g <= top)
    assert len(walk) < len(grid)
    proc = gradsweep("results", "walk", "--storage", "out", "--frontier", env=ray_env, cwd=tmp_path)
    assert proc.returncode == 0 and "frontier" in proc.stdout and "not_run" in proc.stdout
    proc = gradsweep("status", "walk", "--storage", "out", env=ray_env, cwd=tmp_path)
    assert "PENDING" not in proc.stdout  # the points a walk skips are not pending work


def test_hparams_write_a_field_that_is_none_anywhere_as_text_everywhere():
    from gradsweep.sweep.tensorboard import hparam_values, text_fields

    configs = [{"arch": "rnn", "clip_norm": None, "gap": 5}, {"arch": "rnn", "clip_norm": 0.5}]
    as_text = text_fields(configs)
    assert as_text == {"clip_norm"}
    assert hparam_values({"trial": configs[0]}, as_text) == {
        "trial/arch": "rnn",
        "trial/clip_norm": "off",
        "trial/gap": 5,
    }
    assert hparam_values({"trial": configs[1]}, as_text)["trial/clip_norm"] == "0.5"
    assert hparam_values({"trial": {"gap": None}}, frozenset())["trial/gap"] == "none"


@pytest.mark.integration
def test_a_sweep_on_a_storage_uri_with_a_query_launches_and_reads_back(s3, ray_env, tmp_path):
    """Ray's documented form for S3-compatible stores, with AWS_ENDPOINT_URL unset: the
    endpoint comes from the URI's query alone, for the writer and every reader."""
    env = {k: v for k, v in ray_env.items() if k != "AWS_ENDPOINT_URL"}
    port = s3.rsplit(":", 1)[1]
    storage = f"s3://gradsweep/query-run?endpoint_override=127.0.0.1:{port}&scheme=http"
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC.replace("arch: [rnn, gru]", "arch: [rnn]"))
    proc = gradsweep("launch", str(spec), "--storage", storage, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-1000:] + proc.stderr[-2000:]
    assert "2/2 trials finished" in proc.stdout
    proc = gradsweep(
        "results", "tiny", "--storage", storage, "--format", "csv", env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("TERMINATED") == 2
    proc = gradsweep("report", "tiny", "--storage", storage, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "reports" / "tiny" / "report.html").exists()
    # the records are where the URI's path says, on the store its query names
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(storage)
    finals = fs.get_file_info(pafs.FileSelector(f"{root}/tiny", recursive=True))
    assert sum(info.base_name == "final.json" for info in finals) == 2
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        loaded = load_results("tiny", storage=storage, cache_dir=tmp_path / "cache")
    finally:
        os.environ["AWS_ENDPOINT_URL"] = s3
    assert sorted(loaded.trials["seed"]) == [0, 1]
    assert set(loaded.trials["status"]) == {"TERMINATED"}
