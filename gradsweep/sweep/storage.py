"""Checks that an experiment's storage can be written, and reached from every node."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import ray

from gradsweep.errors import ConfigError
from gradsweep.layout import is_uri
from gradsweep.spec import NAME_PATTERN
from gradsweep.sweep.manifest import nodes

# File systems that every node of a cluster can mount (from /proc/mounts' type column).
SHARED_FILESYSTEMS = (
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "lustre",
    "gpfs",
    "ceph",
    "beegfs",
    "glusterfs",
    "fuse.s3fs",
    "fuse.gcsfuse",
    "fuse.juicefs",
    "9p",
)


def resolve_storage(storage: str) -> str:
    """An absolute local path or a URI; local paths are checked before Ray starts."""
    if is_uri(storage):
        return storage
    path = Path(storage).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--storage: {str(path)!r} is not a directory", "storage")
    if not path.exists() and not path.parent.is_dir():
        raise ConfigError(
            f"--storage: {str(path)!r} is not allowed: its parent directory does not exist",
            "storage",
        )
    probe_dir = path if path.exists() else path.parent
    try:  # a real write: os.access answers yes to root even where writing fails
        with tempfile.NamedTemporaryFile(dir=probe_dir, prefix=".gradsweep-probe-"):
            pass
    except OSError as err:
        raise ConfigError(
            f"--storage: {str(probe_dir)!r} is not writable ({err.strerror})", "storage"
        ) from None
    return str(path)


def check_name(name: str) -> str:
    """A plain experiment name: letters, digits, '-', '_', '.'; no '/', no '..'."""
    if not re.fullmatch(NAME_PATTERN, name) or name in {".", ".."} or ".." in name:
        raise ConfigError(
            f"--name: {name!r} is not allowed: use letters, digits, '-', '_' and '.' "
            "(no '/', no '..')",
            "name",
        )
    return name


def filesystem_type(path: str) -> str | None:
    """The type of the file system holding `path`, from /proc/mounts (Linux)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    best, kind = "", None
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and path.startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind


def check_storage_reach(storage: str) -> None:
    """Refuse a local, unshared storage path when trials may run on other machines.

    Trials write their records into the experiment directory from wherever they run, so on
    a cluster the storage must be one that every node reaches.
    """
    if is_uri(storage):
        return
    alive = nodes()
    here = ray.util.get_node_ip_address()
    elsewhere = any(n["address"] != here for n in alive)
    local = [n for n in alive if n["address"] == here]
    no_room_here = all(n["resources"].get("CPU", 0) == 0 for n in local)
    if not (elsewhere or (no_room_here and alive)):
        return  # one machine: a local path is fine
    kind = filesystem_type(storage) or "unknown"
    if kind.startswith(SHARED_FILESYSTEMS):
        return
    raise ConfigError(
        f"--storage: {storage!r} is a local path ({kind}) but trials run on other machines; "
        "use shared storage every node reaches (s3://bucket/path, gs://bucket/path, or an NFS "
        "mount at the same path on every node)",
        "storage",
    )
