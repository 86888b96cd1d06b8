"""Outside text is shown as text: never read as Rich markup, never sent as a control
sequence, on stdout, on stderr and in serve's log lines."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import subprocess
from pathlib import Path

import pytest
import typer
from rich.text import Text

import opsbook
from opsbook.console import (
    Cell,
    Table,
    VisibleConsole,
    VisibleFormatter,
    fail,
    literal,
    print_rows,
    safe,
    shell_word,
    visible,
)

TRICKY = [
    "[/oops] x",
    "[bold red]boom[/][link=http://evil]click[/link]",
    "\\[bold]not bold",
    "ends in one backslash\\",
    "ends in two\\\\",
    "ends in three\\\\\\",
    "[[/]] and [@click=quit] and [#ff0000]",
    "[bold",
    "plain words",
]


def _printed(*objects: object, terminal: bool = False) -> str:
    out = io.StringIO()
    shown = VisibleConsole(file=out, force_terminal=terminal, width=200, highlight=False)
    shown.print(*objects)
    return out.getvalue()


def test_visible_escapes_controls_and_bidi() -> None:
    value = "a\x1b[2J\x07\x00\r\x7f\x9b\u202e\u2066\u2028b\n\tc"
    assert visible(value) == "a\\x1b[2J\\x07\\x00\\r\\x7f\\x9b\\u202e\\u2066\\u2028b\\n\\tc"
    assert visible(value, newlines=True).endswith("b\n\tc")
    assert visible("café, 東京, emoji 🙂") == "café, 東京, emoji 🙂"


@pytest.mark.parametrize("value", TRICKY)
def test_safe_shows_the_value_exactly_inside_our_markup(value: str) -> None:
    assert _printed(f"[bold]{safe(value)}[/] after") == f"{value} after\n"


def test_safe_keeps_our_style_around_the_value() -> None:
    shown = _printed(f"[bold]{safe('[/] x')}[/]", terminal=True)
    assert shown.startswith("\x1b[1m[/] x")


def test_table_cells_are_text_and_literal_carries_style() -> None:
    table = Table("title", "state")
    table.add_row("[/oops] \x1b[2J", literal("down", "bold red"))
    shown = _printed(table, terminal=True)
    assert "[/oops] \\x1b[2J" in shown
    assert "\x1b[1;31mdown" in shown  # Rich's own style sequence, not data


def test_the_console_escapes_a_control_character_nobody_escaped() -> None:
    """The backstop: a Text built straight from data still cannot drive the terminal,
    while Rich's own colour sequences still reach a real terminal."""
    shown = _printed(Text("x\x1b]0;pwn\x07y\x00\u202e", style="bold"), terminal=True)
    assert "\x1b]0" not in shown and "\x00" not in shown and "\u202e" not in shown
    assert "x\\x1b]0;pwny\\x00\\u202e" in shown  # Rich's Text itself drops BEL
    assert shown.startswith("\x1b[1m")


def test_fail_prints_its_message_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as stopped:
        fail("no check named '[/oops]\x1b[2J'")
    assert stopped.value.exit_code == 2
    assert capsys.readouterr().err == "error: no check named '[/oops]\\x1b[2J'\n"


def test_log_lines_cannot_be_forged_or_reach_the_terminal() -> None:
    formatter = VisibleFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord(
        "opsbook.watch",
        logging.INFO,
        __file__,
        1,
        "FIRING %s: %s",
        ("alertmanager:[/oops]", "db\n2026-01-01T00:00:00Z INFO RESOLVED all\x1b[2J\u202e"),
        None,
    )
    line = formatter.format(record)
    assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
    assert line == (
        "INFO FIRING alertmanager:[/oops]: db\\n2026-01-01T00:00:00Z INFO RESOLVED "
        "all\\x1b[2J\\u202e"
    )


def test_commands_build_tables_from_the_safe_table() -> None:
    """A new command cannot pick Rich's own Table by habit: its string cells would be read
    as markup again."""
    root = Path(opsbook.__file__).parent
    direct = [
        str(path.relative_to(root))
        for path in sorted(root.rglob("*.py"))
        if path.name != "console.py" and "rich.table" in path.read_text()
    ]
    assert direct == []


@dataclasses.dataclass(frozen=True)
class _Row:
    name: str
    at: dt.datetime | None


_COLUMNS: list[tuple[str, Cell[_Row]]] = [
    ("name", lambda r: r.name),
    ("at", lambda r: f"{r.at:%Y-%m-%d}" if r.at else "-"),
]


def test_print_rows_as_json_prints_typed_rows_as_objects(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [_Row("[/oops]\x1b[2J", dt.datetime(2026, 3, 2, tzinfo=dt.UTC)), _Row("b", None)]
    print_rows(rows, _COLUMNS, as_json=True)
    assert json.loads(capsys.readouterr().out) == [
        {"name": "[/oops]\x1b[2J", "at": "2026-03-02T00:00:00+00:00"},
        {"name": "b", "at": None},
    ]
    print_rows(rows, _COLUMNS, as_json=True, data={"rows": rows, "count": 2})
    assert json.loads(capsys.readouterr().out)["rows"][1] == {"name": "b", "at": None}


def test_print_rows_as_a_table_shows_cells_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    print_rows([_Row("[/oops]\x1b[2J", None)], _COLUMNS, as_json=False)
    shown = capsys.readouterr().out
    assert "[/oops]\\x1b[2J" in shown and "\x1b" not in shown
    print_rows([], _COLUMNS, as_json=False, empty="nothing [here]")
    assert capsys.readouterr().out == "nothing [here]\n"


@pytest.mark.parametrize(
    "word",
    [
        "plain",
        "a b",
        "it's",
        "$(touch pwned); `id`",
        "a\nb\tc\r",
        "\x1b[2J\x07\x7f",
        "\u202e\x85é",
        "\\'\\",
    ],
)
def test_shell_word_pastes_as_the_word_and_shows_controls_as_escapes(word: str) -> None:
    quoted = shell_word(word)
    assert visible(quoted) == quoted  # nothing left for the terminal to obey
    done = subprocess.run(
        ["bash", "-c", f"printf '%s' {quoted}"],
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},  # exact in any locale
        capture_output=True,
        check=True,
    )
    assert done.stdout.decode() == word
