"""Files on an experiment's storage, local or remote, through pyarrow's file systems.

One way to write a whole file or nothing (`write_atomic`), to add a line (`append_line`)
and to read JSON (`read_json`); storage errors become one line (`storage_error`). Named
`storage_io` to stay apart from `gradsweep.sweep.storage`, which checks where an
experiment may live. Nothing here imports Ray or TensorFlow.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from gradsweep.errors import ConfigError
from gradsweep.layout import is_uri


def filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    """The file system holding `location` and the path on it (a URI's query configures
    the file system: `?endpoint_override=host:port&scheme=http`)."""
    if is_uri(location):
        return pafs.FileSystem.from_uri(location)
    return pafs.LocalFileSystem(), location


def write_atomic(fs: pafs.FileSystem, path: str, data: str | bytes) -> None:
    """Write a whole file or nothing: a temporary name beside it, then a rename (a
    reader never sees half a file; a crash leaves only a `.tmp-` file behind)."""
    directory, _, name = path.rpartition("/")
    tmp = f"{directory}/.{name}.tmp-{os.getpid()}-{threading.get_ident()}"
    with fs.open_output_stream(tmp) as stream:
        stream.write(data.encode() if isinstance(data, str) else data)
    fs.move(tmp, path)


def write_local(path: Path, data: str | bytes) -> None:
    """`write_atomic` for a local file, its directory made first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(pafs.LocalFileSystem(), str(path), data)


def append_line(fs: pafs.FileSystem, path: str, line: str) -> None:
    """Append one line; object stores cannot append, so there the file is rewritten."""
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    data = (line + "\n").encode()
    try:
        with fs.open_append_stream(path) as stream:
            stream.write(data)
    except (NotImplementedError, pa.lib.ArrowNotImplementedError):
        try:
            with fs.open_input_stream(path) as stream:
                data = stream.read() + data
        except FileNotFoundError:
            pass
        write_atomic(fs, path, data)


def read_json(fs: pafs.FileSystem, path: str) -> dict[str, Any] | None:
    """A JSON file's content, or None when it is missing or unreadable."""
    try:
        with fs.open_input_stream(path) as stream:
            return json.loads(stream.read())
    except (FileNotFoundError, OSError, json.JSONDecodeError):
        return None


def exists(fs: pafs.FileSystem, path: str) -> bool:
    """Whether anything (file or directory) is at `path`."""
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def subdirectories(fs: pafs.FileSystem, root: str) -> list[pafs.FileInfo]:
    """The directories directly under `root` whose names do not start with '.', sorted."""
    listing = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    found = [
        i for i in listing if i.type == pafs.FileType.Directory and not i.base_name.startswith(".")
    ]
    return sorted(found, key=lambda info: info.base_name)


def storage_error(location: str, err: OSError) -> ConfigError:
    """pyarrow's S3/GCS errors as one line that names the problem."""
    text = str(err)
    if "NO_SUCH_BUCKET" in text or "bucket does not exist" in text.lower():
        problem = "its bucket does not exist"
    elif "NETWORK_CONNECTION" in text or "curlCode" in text or "timed out" in text.lower():
        problem = "the storage endpoint does not answer (check AWS_ENDPOINT_URL or the network)"
    elif any(
        code in text
        for code in ("ACCESS_DENIED", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403")
    ):
        problem = "the store rejected the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
    else:
        problem = text.strip().splitlines()[0][:200] if text.strip() else type(err).__name__
    return ConfigError(f"experiment: {location!r} cannot be read: {problem}", "experiment")
