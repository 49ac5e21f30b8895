"""The live view, on a copy of a real experiment changed as a running sweep would be."""

import json
import shutil

from gradsweep.cli import main
from gradsweep.layout import EXPERIMENT_STATE_PREFIX
from gradsweep.results import load_results
from gradsweep.watch import snapshot


def trial_dirs(experiment):
    return sorted(p.parent for p in experiment.glob("*/params.json"))


def test_snapshot_of_a_growing_directory(legacy):
    for state in legacy.glob(f"{EXPERIMENT_STATE_PREFIX}*"):
        state.unlink()  # statuses from the files, as while Tune has not saved yet
    running = trial_dirs(legacy)[0]
    lines = (running / "epochs.jsonl").read_text().splitlines()
    # killed or caught mid-write: one whole epoch, then half a line
    (running / "epochs.jsonl").write_text(lines[0] + "\n" + lines[1][:50])
    (running / "final.json").unlink()
    started = legacy / "fresh_00099"  # a trial that has only just begun
    started.mkdir()
    shutil.copy(running / "params.json", started / "params.json")
    view = snapshot(load_results(legacy))
    assert view.counts == {"TERMINATED": 7, "ERROR": 4, "RUNNING": 2}
    params = json.loads((running / "params.json").read_text())["trial"]
    arch = {"rnn": "SimpleRNN", "gru": "GRU"}[params["arch"]]
    model = arch + " · clip " + ("off" if params["clip_norm"] is None else "1.0")
    # the fixture predates per-block init: its GRU ran Keras's fused orthogonal
    model += " · init " + ("orthogonal" if arch == "SimpleRNN" else "orthogonal_fused")
    assert view.grid.loc[model, params["gap"]] == "run"
    assert (view.grid[5] == "failed").all()  # gap 5 failed everywhere
    mine = view.running.set_index("trial_id").loc[running.name]
    assert (mine["epoch"], mine["of"]) == (1, 3)
    assert mine["val_acc"] == json.loads(lines[0])["val_acc"]
    finished = view.grid.loc[view.grid.index != model, 2]
    assert all(cell.replace(".", "").isdigit() for cell in finished)


def test_watch_once_prints_one_frame(legacy, capsys):
    assert main(["watch", str(legacy), "--once"]) == 0
    out = capsys.readouterr().out
    assert "8 terminated, 4 error" in out and "frontier so far" in out
    assert "best validation accuracy by gap" in out
    assert main(["watch", str(legacy / "missing"), "--once"]) == 2


def test_trials_started_since_tune_last_saved_its_state_count_as_running(legacy):
    """Two trials just handed freed workers: Tune writes their params.json as it starts
    them, but its saved state (every 10 s at most) still says PENDING, and neither has
    reported an epoch yet. Both are running, as the launch's progress says."""
    (state,) = legacy.glob(f"{EXPERIMENT_STATE_PREFIX}*")
    trial_data = json.loads(state.read_text())["trial_data"]
    source = trial_dirs(legacy)[0]
    for name in ("fresh_00098", "fresh_00099"):
        (legacy / name).mkdir()
        shutil.copy(source / "params.json", legacy / name / "params.json")
        trial = {"trial_id": name, "status": "PENDING", "relative_logdir": name}
        trial_data.append([json.dumps(trial), "{}"])
    state.write_text(json.dumps({"trial_data": trial_data}))
    assert snapshot(load_results(legacy)).counts == {"TERMINATED": 8, "ERROR": 4, "RUNNING": 2}
