"""Shared fixtures: tiny configs, a real experiment directory, quiet TensorFlow."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, TINY

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture
def tiny() -> dict:
    """Sizes small enough that a trial trains in about a second."""
    return dict(TINY)


@pytest.fixture
def legacy(tmp_path) -> Path:
    """A private copy of `fixtures/legacy_v1`: a real sweep's experiment directory.

    12 tiny recall trials (rnn and gru x gap 2, 4, 5 x clip off/1.0, one seed, 3 epochs)
    written by `gradsweep launch` at commit 5fa948b; the 4 with gap 5 failed on purpose
    (GRADSWEEP_FAULT_RAISE=gap=5, max_failures 0) and have only params.json and error.txt.
    Tune's own files that gradsweep never reads were left out.
    """
    target = tmp_path / "legacy"
    shutil.copytree(FIXTURES / "legacy_v1", target)  # the reader writes its cache inside
    return target


@pytest.fixture
def ray_tmpdir():
    """A short directory for Ray's temporary files, removed afterwards.

    Not under pytest's tmp_path: Ray puts Unix sockets in it, whose paths may not exceed
    107 bytes, and pytest-xdist's worker directories make tmp_path too long for them.
    """
    path = tempfile.mkdtemp(prefix="gsray-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def ray_env(ray_tmpdir, monkeypatch) -> dict:
    """Ray's temporary files in a short directory of their own, TensorFlow quiet."""
    monkeypatch.setenv("RAY_TMPDIR", ray_tmpdir)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    return os.environ.copy()


def pytest_collection_modifyitems(items) -> None:
    """Under `pytest -n 2 --dist loadgroup` (as `make test` runs), every test that starts
    a Ray runs on one worker, one after another: two Rays at once would share 2 CPUs and
    stretch the fault tests' timings. The unit tier runs beside them on the other worker."""
    for item in items:
        if item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.xdist_group("ray"))


@pytest.fixture(scope="module")
def s3():
    """A real S3 protocol endpoint on loopback (`tests.s3server`) with a bucket
    `gradsweep`, its variables set in this process's environment, which Ray's workers
    inherit. One server per test module; tests keep to their own prefixes."""
    from tests.s3server import s3_server

    with s3_server("gradsweep") as env:
        patch = pytest.MonkeyPatch()
        for key, value in env.items():
            patch.setenv(key, value)
        yield env["AWS_ENDPOINT_URL"]
        patch.undo()
