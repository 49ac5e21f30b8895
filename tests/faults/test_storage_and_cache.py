"""Faults 4 and 5: storage trouble is caught before Ray starts; a damaged or stale results
cache is detected and rebuilt from the trial files."""

import json
import sys
from pathlib import Path

from gradsweep.cli import main
from gradsweep.layout import CACHE_DIR
from gradsweep.results import load_results

ROOT = Path(__file__).parent.parent.parent


def test_storage_problems_are_reported_before_ray(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    smoke = str(ROOT / "sweeps/smoke.yaml")
    assert main(["launch", smoke, "--storage", str(tmp_path / "file")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["launch", smoke, "--storage", str(tmp_path / "missing/sub")]) == 2
    assert "parent directory does not exist" in capsys.readouterr().err
    assert main(["launch", smoke, "--storage", "/proc/1/results"]) == 2  # unwritable, even as root
    assert "not writable" in capsys.readouterr().err
    assert "ray" not in sys.modules or not __import__("ray").is_initialized()


def test_a_name_that_is_a_symlink_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    outside = tmp_path / "outside"
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "smoke").symlink_to(outside)  # dangling: points nowhere yet
    assert main(["launch", str(ROOT / "sweeps/smoke.yaml")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert not outside.exists()


def test_cache_is_refreshed_when_a_trial_changes(legacy):
    before = load_results(legacy).epochs
    result_file = sorted(legacy.glob("*/epochs.jsonl"))[0]
    lines = result_file.read_text().splitlines()
    extra = json.loads(lines[-1])
    extra["epoch"] = 99
    result_file.write_text("\n".join([*lines, json.dumps(extra)]) + "\n")
    after = load_results(legacy).epochs
    assert len(after) == len(before) + 1 and 99 in set(after["epoch"])


def test_truncated_cache_is_rebuilt(legacy):
    load_results(legacy)
    cached = legacy / CACHE_DIR / "trials.parquet"
    cached.write_bytes(cached.read_bytes()[:100])
    assert len(load_results(legacy).trials) == 12
