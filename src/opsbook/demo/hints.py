"""Commands the demo suggests, written so that they run as printed. After `make demo`
`opsbook` is not on PATH: the hints then name the running executable by its path from
the current folder (`.venv/bin/opsbook`), or say once how to put it on PATH. Every path
is a `shell_word`: a folder named with spaces, quotes, `$(...)` or a newline is pasted
as one word, and its control characters are shown as escapes, never sent raw."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from opsbook.console import console, safe, shell_word


@dataclass(frozen=True)
class Invocation:
    """How to start opsbook from here: `command`, after running `first` once if set."""

    command: str
    first: str | None = None

    def line(self, *args: str) -> str:
        return " ".join([self.command, *(shell_word(a) for a in args)])


def invocation(
    *,
    cwd: Path,
    which: Callable[[str], str | None] = shutil.which,
    argv0: str = sys.argv[0],
    executable: str = sys.executable,
) -> Invocation:
    """`opsbook` when PATH finds it; else the running one's path, relative to `cwd` when it
    is under it; else `opsbook` after activating its virtual environment."""
    if which("opsbook"):
        return Invocation("opsbook")
    found = _running(argv0, executable)
    if found is None:
        return Invocation(f"{shell_word(executable)} -m opsbook")
    if found.is_relative_to(cwd):
        return Invocation(shell_word(str(found.relative_to(cwd))))
    activate = found.parent / "activate"
    if activate.is_file():
        return Invocation("opsbook", first=f"source {shell_word(str(activate))}")
    return Invocation(shell_word(str(found)))


def _running(argv0: str, executable: str) -> Path | None:
    """The `opsbook` script this process runs as, or the one beside its Python (`python -m
    opsbook`). Absolute, symlinks kept: a virtual environment's python is one."""
    for candidate in (Path(argv0), Path(executable).parent / "opsbook"):
        if candidate.name == "opsbook" and candidate.is_file():
            return candidate.absolute()
    return None


def print_hints(rows: list[tuple[str, str]], how: Invocation) -> None:
    """`rows` as (label, command or URL): one unwrapped line each, so that a copy of the
    line is the command, whatever the terminal's width."""
    console.print("\ntry, in another terminal in this folder:")
    if how.first:
        console.print(f"  first      {safe(how.first)}", soft_wrap=True)
    for label, text in rows:
        console.print(f"  {label:10} {safe(text)}", soft_wrap=True)


def watch_hints(
    *, config: Path, app_url: str, status_page: str, how: Invocation
) -> list[tuple[str, str]]:
    """Break it, watch it, fix it: the commands, with this demo's addresses."""
    fault = ["sandbox", "fault", "health-500"]
    conf = ["--config", str(config)]
    return [
        ("break it", how.line(*fault, "--url", app_url)),
        ("watch it", how.line(*conf, "status")),
        ("", how.line(*conf, "history", "--since", "1h")),
        ("", how.line(*conf, "incident", "list")),
        ("", f"{status_page}  (the public status page)"),
        ("fix it", how.line(*fault, "--off", "--url", app_url)),
        ("more", how.line(*conf, "check")),
        ("", how.line(*conf, "incident", "show", "1")),
    ]
