"""What a trial asks for, and whether this machine or a live node can hold it.

Ray keeps a trial that no node can hold pending forever without a word, so `launch` and
`resume` check before Ray starts (this machine) or right after joining (a cluster).
"""

from __future__ import annotations

import os

from gradsweep.errors import ConfigError
from gradsweep.sweep.manifest import nodes


def per_trial(
    cpus: float | None, gpus: float | None, default_cpus: float, default_gpus: float
) -> tuple[float, float]:
    """The CPUs and GPUs per trial: the options where given, else the defaults; checked."""
    cpus = cpus if cpus is not None else default_cpus
    gpus = gpus if gpus is not None else default_gpus
    if cpus <= 0:
        raise ConfigError(f"--cpus-per-trial: {cpus} is not allowed: must be > 0", "cpus")
    if gpus < 0:
        raise ConfigError(f"--gpus-per-trial: {gpus} is not allowed: must be >= 0", "gpus")
    return cpus, gpus


def machine() -> tuple[int, int, float]:
    """This machine's CPUs, GPUs (as Ray would count them) and memory in bytes."""
    from ray._private.accelerators import NvidiaGPUAcceleratorManager

    gpus = NvidiaGPUAcceleratorManager.get_current_node_num_accelerators()
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return os.cpu_count() or 1, gpus, float(memory)


def check_fits_here(cpus: float, gpus: float, memory: float, yes: bool) -> None:
    """On the embedded Ray, a trial that this machine cannot hold is refused before Ray
    starts: Ray would keep it pending forever without a word."""
    have_cpus, have_gpus, have_memory = machine()
    if cpus > have_cpus:
        raise ConfigError(
            f"--cpus-per-trial: {cpus:g} is not allowed: this machine has {have_cpus} CPU(s)",
            "cpus",
        )
    if gpus > have_gpus:
        raise ConfigError(
            f"--gpus-per-trial: {gpus:g} is not allowed: this machine has {have_gpus} GPU(s) "
            "that Ray can use",
            "gpus",
        )
    if memory > have_memory and not yes:
        raise ConfigError(
            f"memory: a trial may need about {memory / 2**30:.1f} GiB, more than this "
            f"machine's {have_memory / 2**30:.1f} GiB; make the sizes smaller or pass --yes",
            "memory",
        )


def check_fits_cluster(cpus: float, gpus: float, memory: float, yes: bool) -> None:
    """On a cluster, say within seconds when no live node can hold one trial (Ray would
    wait forever); an autoscaler may still add one, which `--yes` says to wait for."""
    alive = nodes()
    fits = [
        n
        for n in alive
        if n["resources"].get("CPU", 0) >= cpus
        and n["resources"].get("GPU", 0) >= gpus
        and n["resources"].get("memory", float("inf")) >= memory
    ]
    if fits or yes:
        return
    largest = max(alive, key=lambda n: n["resources"].get("CPU", 0), default=None)
    shown = {k: largest["resources"].get(k, 0) for k in ("CPU", "GPU")} if largest else {}
    raise ConfigError(
        f"resources: no live node can hold a trial ({cpus:g} CPU, {gpus:g} GPU, "
        f"~{memory / 2**30:.1f} GiB; the largest has {shown}); pass --yes to wait for "
        "an autoscaler to add one",
        "resources",
    )
