"""The manifest written next to the results: what ran, with which versions, on which nodes."""

from __future__ import annotations

import importlib.metadata as md
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import ray

from gradsweep.spec import Grid, SweepSpec


def manifest(spec: SweepSpec, grid: Grid, resources: dict[str, float]) -> dict[str, Any]:
    """The spec, versions, resources and grid size of a launch."""
    return {
        "gradsweep": md.version("gradsweep"),
        "versions": {p: md.version(p) for p in ("tensorflow", "keras", "ray", "numpy")},
        "python": platform.python_version(),
        "git_commit": _git_commit(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "driver_host": platform.node(),
        "spec": spec.to_dict(),
        "resources": resources,
        "trials": len(grid.trials),
        "skipped": grid.skipped,
    }


def nodes() -> list[dict[str, Any]]:
    """The alive Ray nodes: id, address, hostname and resources."""
    return [
        {
            "node": n["NodeID"],
            "address": n["NodeManagerAddress"],
            "hostname": n.get("NodeManagerHostname"),
            "resources": n.get("Resources", {}),
        }
        for n in ray.nodes()
        if n.get("Alive")
    ]


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
