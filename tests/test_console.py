"""The CLI's consoles: natural width off a terminal, `$COLUMNS` when given, a closed pipe
as ReaderGone."""

import contextlib
import io
import os

import pytest
from rich.table import Table

from gradsweep.console import NATURAL_WIDTH, ReaderGone, console, write


def test_a_console_off_a_terminal_lays_out_at_natural_width(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert console().width == NATURAL_WIDTH


def test_a_table_off_a_terminal_is_as_wide_as_its_longest_row(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    table = Table("axis", "values")
    table.add_row("gap", "x" * 300)
    console().print(table)
    lines = __import__("sys").stdout.getvalue().splitlines()
    assert max(len(line) for line in lines) < 320 and any("x" * 300 in line for line in lines)


def test_columns_sets_the_width_off_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert console(stderr=True).width == 60


@pytest.mark.parametrize(
    "emit",
    [lambda c: c.print("a table, or any line"), lambda c: write(c, '{"raw": "json"}\n')],
    ids=["print", "write"],
)
def test_a_closed_pipe_is_reader_gone_whatever_writes(monkeypatch, emit):
    read, write_end = os.pipe()
    os.close(read)  # the reader has left before the first write
    stream = os.fdopen(write_end, "w")
    monkeypatch.setattr("sys.stdout", stream)  # here: pytest sets its own for the call
    try:
        with pytest.raises(ReaderGone):
            emit(console())
    finally:
        with contextlib.suppress(BrokenPipeError):
            stream.close()


def test_a_console_follows_columns_as_it_is_when_it_renders(monkeypatch):
    """rich reads `$COLUMNS` once, when a console is made; the CLI's consoles are made at
    import, so a COLUMNS set then must not stay their width (it did, in whichever test
    process imported the CLI under a test's COLUMNS)."""
    from gradsweep.console import NATURAL_WIDTH, console

    monkeypatch.setenv("COLUMNS", "200")
    made = console()
    assert made.size.width == 200
    monkeypatch.setenv("COLUMNS", "60")
    assert made.size.width == 60
    monkeypatch.delenv("COLUMNS")
    assert made.size.width == NATURAL_WIDTH  # captured here, as in a pipe: natural width
