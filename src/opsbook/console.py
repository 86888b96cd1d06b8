"""How every command speaks: Rich for people, `--json` for machines, one meaning per exit code.

Anything opsbook did not write itself (a title, a note, a check's name or output, a
runbook, an Alertmanager label, a row of the database) is shown as text: never read as
Rich markup and never passed to the terminal as a control sequence. `visible()` is the
one place that decides how such a value looks; `safe()` puts it into our markup,
`literal()` and `Table` cells show it unparsed, `fail()` messages are text, and serve's
log lines go through `VisibleFormatter`. The consoles themselves show any control
character that still reaches them escaped, so a value nobody passed through `visible()`
cannot clear the screen, retitle the window or reorder a line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import IntEnum
from typing import Any, NoReturn, TypeVar

import typer
from rich import table as rich_table
from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.style import StyleType
from rich.text import Text

from opsbook.config.durations import ZERO, parse_duration
from opsbook.config.secrets import mask_text
from opsbook.jsonout import dumps


def _escaped(code: int) -> str:
    """As Python's repr writes it: `\\n`, `\\x1b`, `\\u202e`."""
    short = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}.get(chr(code))
    return short or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


# C0 controls, DEL and C1 controls (ESC starts every terminal sequence, BEL ends some, CR
# overwrites a line, NUL truncates in C), the bidirectional overrides and isolates that
# make text read in another order than it is stored, and the Unicode line separators.
_CONTROLS = [
    *range(0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x2028,
    0x2029,
]
_ONE_LINE = {code: _escaped(code) for code in _CONTROLS}
# Where a field is multi-line on purpose (a description, a post-mortem, a query's text),
# line breaks and tabs stay as they are; everything else is still shown escaped.
_MULTI_LINE = {code: shown for code, shown in _ONE_LINE.items() if chr(code) not in "\n\t"}
_UNSAFE = re.compile("[" + "".join(re.escape(chr(code)) for code in _MULTI_LINE) + "]")

_CONTROL = re.compile("[" + "".join(re.escape(chr(code)) for code in _CONTROLS) + "]")
# ANSI-C quoting (`$'...'`, bash and zsh): a backslash and a quote escaped, each control
# character as an escape the shell turns back into it. Above 0x7f each of its UTF-8 bytes
# is one `\xHH`: exact in any locale (`\uHHHH` is written as text under LANG=C).
_ANSI_C = {
    ord("\\"): "\\\\",
    ord("'"): "\\'",
    **{
        code: _escaped(code)
        if code < 0x80
        else "".join(f"\\x{byte:02x}" for byte in chr(code).encode())
        for code in _CONTROLS
    },
}

# Rich's markup tags, and the backslashes before them that escape them (rich.markup.RE_TAGS).
_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")
_TRAILING_BACKSLASHES = re.compile(r"\\+$")


def visible(value: object, *, newlines: bool = False) -> str:
    """`value` as text that shows what it holds: control characters, bidi overrides and
    (unless `newlines`) line breaks and tabs become escapes like `\\x1b` and `\\u202e`, so
    a value can neither drive the terminal nor pass for a line opsbook wrote."""
    return str(value).translate(_MULTI_LINE if newlines else _ONE_LINE)


def safe(value: object, *, newlines: bool = False) -> str:
    """`value` ready to be put into Rich markup (`f"[bold]{safe(title)}[/]"`): visible, and
    shown as typed rather than read as tags. Unlike `rich.markup.escape`, a run of
    backslashes at the end is doubled, so it can neither escape our closing tag nor lose
    half of itself to it. (A template must not follow a value with a bare `]`: it could
    close an unfinished `[tag` the value ends with. Ours never do; a whole value in one
    style is simpler as `literal(value, style)`.)"""
    text = _TAG.sub(
        lambda m: f"{m.group(1)}{m.group(1)}\\{m.group(2)}", visible(value, newlines=newlines)
    )
    return _TRAILING_BACKSLASHES.sub(lambda m: m.group(0) * 2, text)


def literal(value: object, style: StyleType = "", *, newlines: bool = False) -> Text:
    """`value` as a Rich Text that is never parsed as markup, optionally in one style: for
    table cells and lines that style a value as a whole."""
    return Text(visible(value, newlines=newlines), style=style)


def shell_word(value: str) -> str:
    """`value` as one word a person can copy into bash or zsh: `shlex.quote`d, or, when it
    holds a control character (a newline, ESC, a bidi override), ANSI-C quoted
    (`$'a\\nb'`), so the line shows each as an escape and the shell still gets the word
    exactly. A hint built from shell words goes through `visible()` unchanged."""
    if _CONTROL.search(value) is None:
        return shlex.quote(value)
    return "$'" + value.translate(_ANSI_C) + "'"


def typed(header: str, **options: Any) -> rich_table.Column:
    """A column of what a person types next (a check's or runbook's name, an id, a backup,
    a commit): kept on one line and never cut; the table's other columns wrap first."""
    return rich_table.Column(header, no_wrap=True, overflow="fold", **options)


class Table(rich_table.Table):
    """A Rich table whose string cells are data, shown as typed and on one line: a cell
    needs no care to be safe, and one that wants style says so with `literal(value,
    style)` (column headers are ours and stay markup)."""

    def add_row(
        self,
        *renderables: RenderableType | None,
        style: StyleType | None = None,
        end_section: bool = False,
    ) -> None:
        cells = [literal(cell) if isinstance(cell, str) else cell for cell in renderables]
        super().add_row(*cells, style=style, end_section=end_section)


class OutputLost(OSError):
    """A console's own output could not be written (a full disk under a redirect, a
    terminal gone): not a file the command was writing (cli.main tells them apart)."""


@contextlib.contextmanager
def output_lost_when_it_fails() -> Iterator[None]:
    try:
        yield
    except OutputLost:
        raise
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise  # click's own: a reader that stopped (`| head`) ends the command quietly
        raise OutputLost(exc.errno, exc.strerror) from exc


class VisibleConsole(Console):
    """The last line of defence: a control character in any text Rich is about to write is
    shown escaped. Rich's own colours are styles and its cursor moves are control
    segments, so they pass; line breaks and tabs are layout and pass.

    At a terminal a long line wraps at word boundaries (left to the terminal, it breaks
    a word wherever the width ends: `09:51 U` / `TC`); into a pipe or a file each line
    stays whole, for grep. `wrap` decides instead of the terminal when set (tests)."""

    wrap: bool | None = None

    def print(self, *objects: Any, **options: Any) -> None:
        if options.get("soft_wrap") is None:
            wrapping = self.is_terminal if self.wrap is None else self.wrap
            options["soft_wrap"] = not wrapping
        with output_lost_when_it_fails():
            super().print(*objects, **options)

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and _UNSAFE.search(segment.text):
                segment = segment._replace(text=visible(segment.text, newlines=True))
            yield segment


console = VisibleConsole(highlight=False, soft_wrap=True)
err = VisibleConsole(stderr=True, highlight=False, soft_wrap=True)


def renew() -> None:
    """Both consoles built again for this process's terminal and environment (its colours,
    width, whether it is a terminal at all): the command server's child (cliserver) runs
    in a terminal the server never had, and every module holds these two objects."""
    VisibleConsole.__init__(console, highlight=False, soft_wrap=True)
    VisibleConsole.__init__(err, stderr=True, highlight=False, soft_wrap=True)


class VisibleFormatter(logging.Formatter):
    """Log lines a peer cannot forge: a message (an alert's summary, a check's name) shows
    its control characters and line breaks escaped, so one event stays one line and
    never reaches the terminal or the journal as a sequence; a traceback keeps its
    line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return visible(mask_text(super().formatMessage(record)))

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return visible(super().formatException(ei), newlines=True)

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return visible(super().formatStack(stack_info), newlines=True)


class Exit(IntEnum):
    OK = 0
    FOUND = 1  # a check failed or something needs attention
    BAD_INPUT = 2


def fail(message: str, code: Exit = Exit.BAD_INPUT) -> NoReturn:
    """Say what is wrong on stderr and stop with the matching exit code. The message is
    text, not markup: it usually quotes what the user typed or what a server answered."""
    err.print(Text.assemble(("error:", "bold red"), " ", literal(message, newlines=True)))
    raise typer.Exit(int(code))


def duration_option(option: str, text: str, *, minimum: dt.timedelta = ZERO) -> dt.timedelta:
    """A duration typed on the command line, bounded like every other (config/durations.py),
    or exit 2 with one line naming the option and the value."""
    try:
        return parse_duration(text, minimum=minimum)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # A typed row prints as the object it stands for, its fields in declared order.
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return str(value)


def print_json(data: Any) -> None:
    """Machine output goes to stdout unstyled, one document per command, RFC 8259 JSON
    (a NaN or an infinity is null). JSON escapes every control character and
    (ensure_ascii) every non-ASCII one, so data cannot reach the terminal raw here either."""
    with output_lost_when_it_fails():
        console.file.write(dumps(data, indent=2, default=_default) + "\n")
        console.file.flush()


Row = TypeVar("Row")
Cell = Callable[[Row], RenderableType]


def print_rows(
    rows: Sequence[Row],
    columns: Sequence[tuple[str, Cell[Row]]],
    *,
    as_json: bool,
    data: Any = None,
    empty: str | None = None,
) -> None:
    """The one way a command prints rows: `--json` prints `data` (else the rows, typed rows
    as objects) and nothing else; people get a `Table` with one cell per column (strings
    shown as text), or the text `empty` when there are no rows and it is given."""
    if as_json:
        print_json(rows if data is None else data)
        return
    if not rows and empty is not None:
        console.print(literal(empty))
        return
    table = Table(*(header for header, _ in columns))
    for row in rows:
        table.add_row(*(cell(row) for _, cell in columns))
    console.print(table)
