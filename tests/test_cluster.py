"""Clusters: Ray's own schema for cluster.yaml, and sweeps on a multi-node Ray cluster
started on this machine with ray.cluster_utils.Cluster (real raylets, fake GPUs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from gradsweep.results import load_results
from tests.helpers import Driver, epochs_of, trial_dirs, wait_for

ROOT = Path(__file__).parent.parent

SPEC = """
name: multi
task: recall
axes:
  arch: [rnn, gru]
  gap: [2, 4]
  seq_len: gap+3
fixed: {hidden: 8, batch_size: 32, train_size: 1024, val_size: 128, test_size: 128,
        probe_size: 32}
budget: {max_epochs: 5, solve_threshold: 1.0}
max_failures: 3
"""


def test_cluster_yaml_passes_rays_own_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    validate_config(config)  # raises on a schema violation
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("CPU") == 0  # the head runs no trials
    gpu_types = [t for t in types.values() if t.get("resources", {}).get("GPU", 0) >= 1]
    assert gpu_types and all(t["max_workers"] >= 1 for t in gpu_types)
    assert any("gradsweep" in cmd for cmd in config["setup_commands"])


@pytest.fixture
def cluster(ray_tmpdir, monkeypatch):
    """A head with no CPUs and the worker nodes a test adds; shut down afterwards."""
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("RAY_TMPDIR", ray_tmpdir)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    yield made
    made.shutdown()


def launch(cluster, tmp_path, *extra: str) -> Driver:
    (tmp_path / "multi.yaml").write_text(SPEC)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return Driver(
        ["launch", "multi.yaml", "--address", cluster.address, "--storage", "out", *extra],
        env,
        tmp_path,
    )


def alive_worker_ids(cluster) -> set[str]:
    return {n.node_id for n in cluster.worker_nodes}


@pytest.mark.integration
def test_trials_run_on_both_worker_nodes(cluster, tmp_path):
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    driver = launch(cluster, tmp_path)
    code, _, err = driver.wait(timeout=300)
    assert code == 0, err[-3000:]
    trials = load_results(tmp_path / "out" / "multi").trials
    assert set(trials["status"]) == {"TERMINATED"}
    assert set(trials["node"]) == alive_worker_ids(cluster)  # both, and never the head
    manifest = json.loads((tmp_path / "out" / "multi" / "gradsweep.json").read_text())
    assert len(manifest["nodes"]) == 3
    # a trial no live node can hold is said within seconds instead of waiting forever
    started = time.monotonic()
    code, _, err = launch(cluster, tmp_path, "--name", "big", "--cpus-per-trial", "2").wait()
    assert code == 2 and "no live node can hold a trial" in err, err[-2000:]
    assert len(err.strip().splitlines()) == 1 and time.monotonic() - started < 60
    assert not (tmp_path / "out" / "big").exists()
    # resume checks the same on the cluster: one trial made unfinished, asked for 2 CPUs
    experiment = tmp_path / "out" / "multi"
    victim = trial_dirs(experiment)[0]
    for name in ("final.json", "epochs.jsonl"):
        (victim / name).unlink()
    for state in experiment.glob("experiment_state-*.json"):
        state.unlink()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = ["resume", "multi", "--storage", "out", "--address", cluster.address]
    started = time.monotonic()
    code, _, err = Driver([*args, "--cpus-per-trial", "2"], env, tmp_path).wait()
    assert code == 2 and "no live node can hold a trial" in err, err[-2000:]
    assert len(err.strip().splitlines()) == 1 and time.monotonic() - started < 60


@pytest.mark.integration
def test_losing_a_worker_node_loses_no_trial(cluster, tmp_path):
    nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    driver = launch(cluster, tmp_path)
    experiment = tmp_path / "out" / "multi"

    def trial_mid_run():
        for trial in trial_dirs(experiment):
            rows = epochs_of(trial)
            if len(rows) >= 2 and not (trial / "final.json").exists():
                return trial, rows
        return None

    victim, before = wait_for(trial_mid_run, what="a trial past epoch 2")
    lost = next(n for n in nodes if n.node_id == before[-1]["node"])
    cluster.remove_node(lost)  # its raylet and workers die, as on a lost spot instance
    code, _, err = driver.wait(timeout=300)
    driver.kill_all()
    assert code == 0, err[-3000:]
    trials = load_results(experiment).trials
    assert len(trials) == 4 and set(trials["status"]) == {"TERMINATED"}
    rows = epochs_of(victim)
    assert "final" in rows[-1]
    assert {r["node"] for r in rows} == {lost.node_id, nodes[1 - nodes.index(lost)].node_id}
    counts = Counter(r["epoch"] for r in rows)
    assert all(e >= len(before) for e, n in counts.items() if n > 1), counts  # resumed


@pytest.mark.integration
def test_fractional_gpus_put_two_trials_on_one_gpu(cluster, tmp_path):
    cluster.add_node(num_cpus=4, num_gpus=1)  # CPUs for four trials, one (fake) GPU
    cluster.wait_for_nodes()
    driver = launch(cluster, tmp_path, "--gpus-per-trial", "0.5", "--cpus-per-trial", "1")
    code, _, err = driver.wait(timeout=300)
    assert code == 0, err[-3000:]
    experiment = tmp_path / "out" / "multi"
    spans = []
    for trial in trial_dirs(experiment):
        rows = epochs_of(trial)
        assert rows[0]["resources"]["GPU"] == 0.5  # what Ray granted the trial
        spans.append((rows[0]["time"] - rows[0]["time_s"], rows[-1]["time"]))
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 2  # the GPU, not the four CPUs, bounds concurrency: two trials per GPU


@pytest.mark.integration
def test_local_storage_is_refused_when_trials_run_elsewhere(tmp_path, ray_tmpdir):
    code = (
        "import sys, ray; from gradsweep import sweep\n"
        "from gradsweep.errors import ConfigError\n"
        "ray.init(num_cpus=0, include_dashboard=False)\n"
        "try:\n    sweep.check_storage_reach(sys.argv[1])\nexcept ConfigError as e:\n"
        "    print(e)\nelse:\n    print('accepted')\n"
        "sweep.check_storage_reach('s3://bucket/path'); print('s3 ok')\n"
    )
    env = {**os.environ, "RAY_TMPDIR": ray_tmpdir}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "is a local path" in out and "s3://" in out and "s3 ok" in out
