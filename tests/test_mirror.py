"""Experiments on S3: read straight from a bucket (moto's server on loopback), cached locally."""

import os
import time

import pandas as pd
import pyarrow.fs as pafs
import pytest

from gradsweep.cli import main
from gradsweep.results import load_results


def upload(local, uri: str) -> None:
    fs, root = pafs.FileSystem.from_uri(uri)
    pafs.copy_files(
        str(local), root, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs
    )


def test_results_are_read_straight_from_a_bucket_and_cached(s3, legacy, tmp_path):
    upload(legacy, "s3://gradsweep/team/legacy")
    local = load_results(legacy)
    remote = load_results("s3://gradsweep/team/legacy", cache_dir=tmp_path / "cache")
    assert remote.path == "s3://gradsweep/team/legacy"
    for table in ("trials", "epochs", "profiles"):
        pd.testing.assert_frame_equal(getattr(remote, table), getattr(local, table))
    mirrored = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.json*")}
    assert len(mirrored) > 12
    again = load_results("s3://gradsweep/team/legacy", cache_dir=tmp_path / "cache")
    assert {p: p.stat().st_mtime_ns for p in mirrored} == mirrored  # nothing downloaded again
    pd.testing.assert_frame_equal(again.trials, local.trials)


@pytest.mark.slow  # four read commands through S3, a report among them: about 5 s
def test_read_commands_take_a_storage_uri(s3, legacy, tmp_path, capsys, monkeypatch):
    upload(legacy, "s3://gradsweep/team/legacy")
    monkeypatch.chdir(tmp_path)
    assert main(["results", "s3://gradsweep/team/legacy", "--format", "csv"]) == 0
    assert capsys.readouterr().out.count("\n") == 13  # a header and 12 trials
    assert main(["status", "legacy", "--storage", "s3://gradsweep/team"]) == 0
    assert "8 TERMINATED" in capsys.readouterr().out
    assert main(["watch", "s3://gradsweep/team/legacy", "--once"]) == 0
    assert main(["report", "s3://gradsweep/team/legacy"]) == 0
    assert (tmp_path / "reports" / "legacy" / "report.html").exists()


@pytest.mark.parametrize(
    ("uri", "endpoint", "message"),
    [
        ("s3://no-such-bucket/x", None, "its bucket does not exist"),
        ("s3://gradsweep/empty", None, "holds no gradsweep experiment"),
        pytest.param(  # pyarrow retries a refused connection for about 6 s
            "s3://gradsweep/x",
            "http://127.0.0.1:9",
            "endpoint does not answer",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_storage_problems_are_one_line(s3, uri, endpoint, message, capsys, monkeypatch):
    if endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # nothing listens on port 9
    started = time.monotonic()
    assert main(["results", uri]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert time.monotonic() - started < 30
    assert "AWS_ENDPOINT_URL" in os.environ
