"""The experiment directory's layout helpers, on local files (no Ray)."""

import json

import pyarrow.fs as pafs
import pytest

from gradsweep import experiment as layout
from gradsweep.errors import ConfigError


def test_append_and_atomic_write_and_read(tmp_path):
    fs, root = layout.filesystem(str(tmp_path))
    layout.append_line(fs, f"{root}/t/epochs.jsonl", '{"epoch": 1}')
    layout.append_line(fs, f"{root}/t/epochs.jsonl", '{"epoch": 2}')
    assert (tmp_path / "t" / "epochs.jsonl").read_text() == '{"epoch": 1}\n{"epoch": 2}\n'
    layout.write_atomic(fs, f"{root}/t/final.json", '{"done": true}')
    assert layout.read_json(fs, f"{root}/t/final.json") == {"done": True}
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["epochs.jsonl", "final.json"]
    assert layout.read_json(fs, f"{root}/t/missing.json") is None
    (tmp_path / "bad.json").write_text("{")
    assert layout.read_json(fs, f"{root}/bad.json") is None


def test_uri_and_path_reach_the_same_files(tmp_path):
    fs, path = layout.filesystem(f"file://{tmp_path}")
    assert isinstance(fs, pafs.LocalFileSystem) and path == str(tmp_path)
    assert layout.is_uri("s3://bucket/x") and not layout.is_uri(str(tmp_path))


def test_statuses_come_from_the_newest_experiment_state(tmp_path):
    def state(name, statuses):
        trial_data = [[json.dumps({"trial_id": t, "status": s}), "{}"] for t, s in statuses]
        (tmp_path / name).write_text(json.dumps({"trial_data": trial_data}))

    fs = pafs.LocalFileSystem()
    assert layout.read_statuses(fs, str(tmp_path)) == {}
    state("experiment_state-2026-01-01_00-00-00.json", [("a", "RUNNING")])
    state("experiment_state-2026-01-02_00-00-00.json", [("a", "TERMINATED"), ("b", "ERROR")])
    assert layout.read_statuses(fs, str(tmp_path)) == {"a": "TERMINATED", "b": "ERROR"}
    (tmp_path / "experiment_state-2026-01-03_00-00-00.json").write_text("{torn")
    assert layout.read_statuses(fs, str(tmp_path)) == {}  # unreadable: inferred from files


def test_experiment_path_resolution(tmp_path, monkeypatch):
    (tmp_path / "store" / "exp").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert layout.experiment_path("exp", "store") == tmp_path / "store" / "exp"
    assert layout.experiment_path("store/exp") == tmp_path / "store" / "exp"
    with pytest.raises(ConfigError, match="not an experiment directory"):
        layout.experiment_path("nope", "store")
