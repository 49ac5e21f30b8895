"""Storage I/O on local files through pyarrow's file systems (no Ray)."""

import pyarrow.fs as pafs

from gradsweep import storage_io


def test_append_and_atomic_write_and_read(tmp_path):
    fs, root = storage_io.filesystem(str(tmp_path))
    storage_io.append_line(fs, f"{root}/t/epochs.jsonl", '{"epoch": 1}')
    storage_io.append_line(fs, f"{root}/t/epochs.jsonl", '{"epoch": 2}')
    assert (tmp_path / "t" / "epochs.jsonl").read_text() == '{"epoch": 1}\n{"epoch": 2}\n'
    storage_io.write_atomic(fs, f"{root}/t/final.json", '{"done": true}')
    assert storage_io.read_json(fs, f"{root}/t/final.json") == {"done": True}
    # the temporary file was renamed, not left beside the target
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["epochs.jsonl", "final.json"]
    assert storage_io.read_json(fs, f"{root}/t/missing.json") is None
    (tmp_path / "bad.json").write_text("{")
    assert storage_io.read_json(fs, f"{root}/bad.json") is None


def test_write_local_makes_the_directory_and_replaces_whole_files(tmp_path):
    target = tmp_path / "a" / "b" / "key.json"
    storage_io.write_local(target, "first, longer content")
    storage_io.write_local(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in target.parent.iterdir()] == ["key.json"]


def test_uri_and_path_reach_the_same_files(tmp_path):
    fs, path = storage_io.filesystem(f"file://{tmp_path}")
    assert isinstance(fs, pafs.LocalFileSystem) and path == str(tmp_path)


def test_subdirectories_skip_hidden_ones_and_files(tmp_path):
    for name in ("b", "a", ".cache"):
        (tmp_path / name).mkdir()
    (tmp_path / "file.json").write_text("{}")
    fs, root = storage_io.filesystem(str(tmp_path))
    assert [i.base_name for i in storage_io.subdirectories(fs, root)] == ["a", "b"]
    assert storage_io.subdirectories(fs, f"{root}/missing") == []
