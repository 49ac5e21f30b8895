"""Names and locations of the experiment layout (no files read but a directory check)."""

import pytest

from gradsweep import layout
from gradsweep.errors import ConfigError


def test_experiment_path_resolution(tmp_path, monkeypatch):
    (tmp_path / "store" / "exp").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert layout.experiment_path("exp", "store") == tmp_path / "store" / "exp"
    assert layout.experiment_path("store/exp") == tmp_path / "store" / "exp"
    with pytest.raises(ConfigError, match="not an experiment directory"):
        layout.experiment_path("nope", "store")


def test_is_uri_tells_uris_from_paths(tmp_path):
    assert layout.is_uri("s3://bucket/x") and layout.is_uri("file:///x")
    assert not layout.is_uri(str(tmp_path)) and not layout.is_uri("results")
