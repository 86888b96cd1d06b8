"""A plain `.sql` file runs in psql's restricted mode, so no meta-command in it (`\\!`
shell, `\\connect`, `\\o FILE`, `\\copy ... program`, `\\setenv`, one in the middle of a
line) is ever executed. Its SQL still runs with the target role's rights: as a superuser,
`COPY ... TO PROGRAM` or `ALTER SYSTEM` in it act on the server. The restore's plan says
so when the target role is a superuser (restore only a file you trust, or into a role
that is not one).

Why psql's own `\\restrict KEY` (17.6, 16.10, 15.14, 14.19, 13.22 and later; CVE-2025-8714)
and not a scan of the file for backslashes: what is a meta-command is decided by psql's
lexer (string literals, dollar quotes, comments, COPY ... FROM stdin data whose `\\N` and
`\\.` are data), and only psql's lexer agrees with psql. Restricted by a random key it
does not know, the file cannot lift the restriction; psql refuses every backslash command
but `\\unrestrict` with the right key, and with ON_ERROR_STOP the run stops there.

pg_dump of those versions opens its plain output with `\\restrict K` and closes it with
`\\unrestrict K` (K its own random key). Inside our restriction both would be refused, so
the file goes to psql through a pipe with exactly those two lines blanked: the first
command of the file when it is `\\restrict K`, and `\\unrestrict K` (the same K) when no
command follows it. Blank lines keep psql's line numbers the file's own.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from opsbook.backups import pgdump
from opsbook.backups.errors import BackupError

# The first release of each branch whose psql knows `\restrict`.
RESTRICT_SINCE = {13: 22, 14: 19, 15: 14, 16: 10, 17: 6}
_RESTRICT = re.compile(rb"\\restrict ([A-Za-z0-9]{1,100})[ \t]*\r?\n?")
_UNRESTRICT = b"\\unrestrict "
REFUSED = r"(?:backslash commands are restricted|\\unrestrict: wrong key)"


def check_psql(tool: pgdump.PgTool) -> pgdump.PgTool:
    """`tool` when its psql can be restricted; BackupError naming the version needed."""
    major, _, minor = tool.version.partition(".")
    since = RESTRICT_SINCE.get(tool.major)
    if tool.major >= 18 or (since is not None and int(minor or 0) >= since):
        return tool
    needed = f"{major}.{since}" if since else "17.6"
    raise BackupError(
        f"psql {tool.version} ({tool.path}) cannot be kept from running meta-commands"
        f" (\\! and the like) in a .sql file: psql {needed} or newer is needed (its"
        " \\restrict); install a current postgresql-client or set backups.bindir"
    )


def _is_quiet(line: bytes) -> bool:
    """A blank or comment line: what pg_dump writes around its `\\restrict` lines."""
    text = line.strip()
    return not text or text.startswith(b"--")


def filtered(lines: Iterable[bytes]) -> Iterator[bytes]:
    """The file's lines with pg_dump's own `\\restrict K` / `\\unrestrict K` pair blanked."""
    key: bytes | None = None
    started = False
    held: list[bytes] = []  # a `\unrestrict K`, and the quiet lines after it
    for line in lines:
        if held and not _is_quiet(line):
            yield from held  # a command follows it: not pg_dump's closing line; refused
            held = []
        if not started and not _is_quiet(line):
            started = True
            match = _RESTRICT.fullmatch(line)
            if match:
                key = match.group(1)
                yield b"\n"
                continue
        if held or (key is not None and line.rstrip() == _UNRESTRICT + key):
            held.append(line)
            continue
        yield line
    if held:
        yield b"\n"
        yield from held[1:]


class Feeder:
    """Writes the filtered file into psql's standard input from a thread of its own, so
    a file of any size streams; a psql that stopped early ends it quietly."""

    def __init__(self, file: Path) -> None:
        self.read_end, self._write_end = os.pipe()
        self._file = file
        self._thread = threading.Thread(target=self._feed, daemon=True)

    def start(self) -> None:
        os.close(self.read_end)  # psql holds its own copy now
        self._thread.start()

    def abandon(self) -> None:
        """psql never started: close both ends."""
        os.close(self.read_end)
        os.close(self._write_end)

    def join(self) -> None:
        self._thread.join(timeout=10)

    def _feed(self) -> None:
        try:
            with open(self._write_end, "wb") as pipe, self._file.open("rb") as source:
                pipe.writelines(filtered(source))
        except OSError:  # BrokenPipeError: psql stopped at an error, and says which
            pass


def refused_line(error: str) -> int | None:
    """The line psql refused a meta-command at, from its `psql:/dev/stdin:LINE: error:`."""
    if not re.search(REFUSED, error):
        return None
    found = re.search(r"psql:/dev/stdin:(\d+):[^;]*" + REFUSED, error)
    return int(found.group(1)) if found else 0
