"""How watch draws a frame: it fits the terminal without folding a row."""

from gradsweep.cli import main
from gradsweep.layout import EXPERIMENT_STATE_PREFIX


def trial_dirs(experiment):
    return sorted(p.parent for p in experiment.glob("*/params.json"))


def running_trial(legacy):
    """The legacy experiment with one trial mid-run, in a directory named from its
    config as launches name them now: the running table's widest row."""
    for state in legacy.glob(f"{EXPERIMENT_STATE_PREFIX}*"):
        state.unlink()
    trial = trial_dirs(legacy)[0]
    first = (trial / "epochs.jsonl").read_text().splitlines()[0]
    (trial / "epochs.jsonl").write_text(first + "\n")
    (trial / "final.json").unlink()
    named = legacy / "arch-rnn_clip_norm-1.0_gap-2_recurrent_init-orthogonal_seed-0_1f0c9a2b3d"
    trial.rename(named)
    return named


def running_rows(out):
    """The lines of the running table's body."""
    table = out[out.index("\nrunning\n") :].splitlines()
    rule = next(i for i, line in enumerate(table) if "───" in line)
    return [line for line in table[rule + 1 :] if line.strip()]


def test_watch_at_80_columns_fits_each_running_trial_on_one_line(legacy, capsys, monkeypatch):
    running_trial(legacy)
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["watch", str(legacy), "--once"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("\nrunning\n") :].splitlines()
    assert max(len(line) for line in table) <= 80  # the text above wraps as the terminal does
    (row,) = running_rows(out)  # not folded over several lines
    assert row.split()[-4:] == ["0", "1", "3", "0.422"]  # seed, epoch, of, val_acc


def test_watch_shows_the_running_trials_directory_where_it_fits(legacy, capsys, monkeypatch):
    named = running_trial(legacy)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["watch", str(legacy), "--once"]) == 0
    (row,) = running_rows(capsys.readouterr().out)
    assert row.split()[0] == named.name


def test_watch_splits_a_grid_too_wide_for_the_terminal_by_level(legacy, capsys, monkeypatch):
    """56 columns hold the longest model name (40 characters) and two levels: a table of
    gaps 2 and 4, then one of gap 5; every model named in full in each, no row folded, no
    number cut."""
    monkeypatch.setenv("COLUMNS", "56")
    assert main(["watch", str(legacy), "--once"]) == 0
    out = capsys.readouterr().out
    grid = out[out.index("best validation") : out.index("frontier so far")].splitlines()
    assert max(len(line) for line in grid) <= 56
    model = "  SimpleRNN · clip off · init orthogonal "
    rows = [line.removeprefix(model).split() for line in grid if line.startswith(model)]
    assert rows == [["0.42", "0.59"], ["failed"]]
