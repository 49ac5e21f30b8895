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


QUERY = "endpoint_override=127.0.0.1:9000&scheme=http"


@pytest.mark.parametrize(
    ("location", "joined"),
    [
        (f"s3://bucket/prefix?{QUERY}", f"s3://bucket/prefix/exp?{QUERY}"),
        (f"s3://bucket/prefix/?{QUERY}", f"s3://bucket/prefix/exp?{QUERY}"),
        (f"s3://bucket?{QUERY}", f"s3://bucket/exp?{QUERY}"),
        ("s3://bucket/prefix", "s3://bucket/prefix/exp"),
        ("s3://bucket/prefix/", "s3://bucket/prefix/exp"),
        ("gs://bucket/a/b", "gs://bucket/a/b/exp"),
        ("file:///tmp/store", "file:///tmp/store/exp"),
        ("/tmp/store/", "/tmp/store/exp"),
        ("results", "results/exp"),
    ],
)
def test_a_name_joins_the_path_and_a_query_stays_at_the_end(location, joined):
    assert layout.join(location, "exp") == joined
    assert layout.name_of(joined) == "exp"


def test_names_join_in_order_under_a_query():
    assert layout.join(f"s3://b/p?{QUERY}", "exp", "trial") == f"s3://b/p/exp/trial?{QUERY}"


def test_a_name_under_uri_storage_keeps_the_query():
    location = layout.experiment_location("exp", f"s3://bucket/prefix?{QUERY}")
    assert location == f"s3://bucket/prefix/exp?{QUERY}"
    # a URI given as NAME is taken as it is, query and all
    assert layout.experiment_location(location, "results") == location


def test_the_joined_uri_reaches_the_store_the_query_names():
    """pyarrow reads the query as the file system's settings and the rest as the path."""
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(layout.join(f"s3://bucket/prefix?{QUERY}", "exp"))
    assert path == "bucket/prefix/exp"
    settings = fs.__reduce__()[1][0]  # S3FileSystem's settings, as it pickles them
    assert isinstance(fs, pafs.S3FileSystem)
    assert (settings["endpoint_override"], settings["scheme"]) == ("127.0.0.1:9000", "http")


def test_a_trial_directory_is_named_by_its_swept_values_and_config_hash():
    config = {"arch": "gru", "gap": 4, "clip_norm": None, "lr": 0.001, "threads": 1}
    name = layout.trial_dirname(config, ("arch", "gap", "clip_norm"))
    assert name.startswith("arch-gru_gap-4_clip_norm-off_")
    assert name == layout.trial_dirname(
        dict(reversed(config.items())), ("arch", "gap", "clip_norm")
    )
    # how a trial runs (threads) is not part of its identity; what it computes is
    assert layout.config_key({**config, "threads": 8}) == layout.config_key(config)
    assert layout.config_key({**config, "lr": 0.01}) != layout.config_key(config)


def test_trial_directory_names_differ_for_every_config_and_fit_a_file_name():
    configs = [
        {"arch": a, "gap": g, "label": "x" * 300, "seed": s}
        for a in ("rnn", "gru")
        for g in (1, 2)
        for s in (0, 1)
    ]
    swept = layout.swept_fields(configs)
    assert swept == ("arch", "gap", "seed")
    names = {layout.trial_dirname(c, ("label", *swept)) for c in configs}
    assert len(names) == len(configs)  # the hash tells apart what the cut label cannot
    assert all(len(n.encode()) <= 255 and "/" not in n for n in names)
