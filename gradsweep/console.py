"""The consoles the CLI renders with: rich's, at the width the output can take.

rich sizes its output from the first of stdin, stdout and stderr that is a terminal, and
falls back to 80 columns when none is (rich 14, `Console.size`): a table written into a
pipe or a file is then cut to the width of a terminal it never reaches, its cells folded
into the next lines. Here a console whose own stream is not a terminal renders at natural
width (a table as wide as its longest row), unless `$COLUMNS` asks for a width; on a
terminal, rich's own rule applies.

A reader that leaves before the output ends (`gradsweep ... | head`) shows up as
`ReaderGone`, from rich's prints and from `write` alike, for the entry point to end on
quietly. Typer would otherwise turn the BrokenPipeError into exit 1, and rich its own into
SystemExit(1).
"""

from __future__ import annotations

import os

from rich.console import Console, ConsoleDimensions

# The width a console off a terminal lays out to: wide enough that no table of the CLI's
# reaches it, so each takes its natural width. Nothing rich renders here pads to the full
# width (tables are not expanded; text is soft-wrapped), so the number costs nothing.
NATURAL_WIDTH = 100_000


class ReaderGone(Exception):
    """The reader of a console's stream left before the output ended (a closed pipe)."""


class _Console(Console):
    """rich's Console, at natural width where its stream is not a terminal and `$COLUMNS`
    is unset; decided at each render, so a stream swapped in later (a test's capture, a
    pipe) is judged as it is then."""

    def _natural_size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        # `$COLUMNS` read now, not when the console was made (rich reads it once, in
        # __init__; `console()` undoes that): the CLI's consoles live as long as the module.
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return ConsoleDimensions(int(columns), size.height)
        if self._width is None and not self.is_terminal:
            return ConsoleDimensions(NATURAL_WIDTH, size.height)
        return size

    size = property(_natural_size, Console.size.fset)

    def on_broken_pipe(self) -> None:
        """rich calls this on a BrokenPipeError while it writes; nothing more is written."""
        self.quiet = True
        raise ReaderGone()


def console(stderr: bool = False) -> Console:
    """The console every command writes its output (or, with `stderr`, its messages and
    progress) to: soft-wrapped text, natural-width tables off a terminal."""
    made = _Console(stderr=stderr, soft_wrap=True)
    made._width = None  # rich took `$COLUMNS` as a fixed width; `size` reads it at each render
    return made


def write(console: Console, text: str) -> None:
    """`text` as it is (JSON, CSV: no markup, no layout) on `console`'s stream; ReaderGone
    when that stream's reader has left."""
    try:
        console.file.write(text)
        console.file.flush()
    except BrokenPipeError:
        console.on_broken_pipe()
