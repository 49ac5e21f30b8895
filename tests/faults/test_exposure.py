"""What a local sweep listens on: Ray's own sockets only, and no dashboard.

Ray 2.60 has no setting that keeps its servers on loopback: measured here, gcs_server,
raylet, the workers and the driver's core worker listen on all interfaces even with
`_node_ip_address="127.0.0.1"`. So this test pins down that gradsweep adds nothing: every
listening socket belongs to a Ray process, and the driver holds exactly the one port of
Ray's core worker that any Ray driver holds.
"""

import psutil
import pytest

from tests.helpers import epochs_of, trial_dirs, wait_for

pytestmark = pytest.mark.integration

RAY_PROCESS_NAMES = ("gcs_server", "raylet", "ray::")


def listeners(root_pid: int) -> list[tuple[str, int, str, int]]:
    """(address, port, process name, pid) of every TCP listener in the process tree."""
    tree = {root_pid}
    try:
        tree |= {p.pid for p in psutil.Process(root_pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return []
    found = []
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in tree:
            try:
                name = psutil.Process(conn.pid).name()
            except psutil.NoSuchProcess:
                continue
            found.append((conn.laddr.ip, conn.laddr.port, name, conn.pid))
    return found


def test_a_local_sweep_listens_only_through_ray(run_env):
    start, cwd = run_env
    driver = start("launch", "faulty.yaml")
    experiment = cwd / "results" / "faulty"
    wait_for(lambda: any(epochs_of(t) for t in trial_dirs(experiment)), what="a trial running")
    sockets = listeners(driver.proc.pid)
    driver.kill_all()
    assert sockets, "expected Ray's listeners while the sweep runs"
    print("listening during a local sweep:", sorted((a, n) for a, _, n, _ in sockets))
    ports = [port for _, port, _, _ in sockets]
    assert 8265 not in ports  # the dashboard is off
    driver_ports = [s for s in sockets if s[3] == driver.proc.pid]
    assert len(driver_ports) == 1  # Ray's core worker in the driver; gradsweep opens none
    others = [s for s in sockets if s[3] != driver.proc.pid]
    assert all(name.startswith(RAY_PROCESS_NAMES) for _, _, name, _ in others), others
