"""Which pg_dump (or pg_restore, psql) to run, and running it: an argument list, the
password in the environment, its progress read from its own `--verbose` lines.

pg_dump refuses a server newer than itself ("aborting because of server version
mismatch"), and an older pg_dump cannot know a newer server's catalogs; a newer pg_dump
dumps an older server fine. So the newest pg_dump found is taken, and it must be at
least the server's major version. pg_restore likewise refuses an archive written by a
newer pg_dump ("unsupported version in file header"): it must be at least the dump's.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from opsbook.backups.errors import BackupError

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")
# With -j, the leader says "finished item 3456 TABLE DATA public users" as each table
# file is done; with one job, "dumping contents of table" starts each.
_FINISHED = re.compile(r"finished item (\d+) TABLE DATA ")
_STARTED = re.compile(r"dumping contents of table ")
_DATA = re.compile(r"processing data for table ")


@dataclass(frozen=True)
class PgTool:
    """One of PostgreSQL's client programs (pg_dump, pg_restore, psql) and its version."""

    path: Path
    version: str  # "15.18"
    major: int


def candidates(bindir: str | None, program: str = "pg_dump") -> list[Path]:
    """Where `program` may be: the configured folder only, when set; else every
    /usr/lib/postgresql/N/bin, then PATH."""
    if bindir:
        return [Path(bindir) / program]
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"))
    on_path = shutil.which(program)
    if on_path:
        found.append(Path(on_path))
    return found


def version_of(path: Path) -> PgTool | None:
    """The program at `path` and its version; None when it is missing or does not run."""
    try:
        done = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(done.stdout)
    if done.returncode != 0 or match is None:
        return None
    major = int(match.group(1))
    return PgTool(path, f"{major}.{match.group(2) or 0}", major)


def choose(
    needed: int,
    paths: Iterable[Path],
    *,
    program: str = "pg_dump",
    because: str | None = None,
) -> PgTool:
    """The newest `program` among `paths`; BackupError naming the version needed (and
    `because`, why: by default the server's version) and how to install it when none is
    at least `needed`."""
    found = [d for d in (version_of(p) for p in dict.fromkeys(paths)) if d is not None]
    usable = [d for d in found if d.major >= needed]
    if usable:
        # On a tie, a versioned folder's binary over Debian's /usr/bin wrapper script.
        return max(usable, key=lambda d: (d.major, "postgresql" in d.path.parts))
    seen = ", ".join(f"{d.version} ({d.path})" for d in found) or "none"
    why = because or f"the server is PostgreSQL {needed}"
    raise BackupError(
        f"{why}: a {program} {needed} or newer is needed"
        f" (found: {seen}); install it with `apt install postgresql-client-{needed}`"
        " (from apt.postgresql.org on Debian 12), or set backups.bindir to its folder"
    )


def connection(url: str) -> tuple[str, dict[str, str]]:
    """A connection string for a client program's command line, without its password,
    and the environment carrying the password (PGPASSWORD: never on a command line `ps`
    shows, never in output)."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in params.items()}), env


def command(
    dump: PgTool,
    url: str,
    *,
    out: Path,
    snapshot: str,
    jobs: int,
    gzip_level: int | None,
    lock_wait_ms: int,
) -> tuple[list[str], dict[str, str]]:
    """pg_dump's argument list and environment (see `connection`)."""
    dbname, env = connection(url)
    argv = [
        str(dump.path),
        "--format=directory",
        f"--jobs={jobs}",
        f"--compress={gzip_level or 0}",
        f"--snapshot={snapshot}",
        f"--lock-wait-timeout={lock_wait_ms}",
        "--verbose",
        f"--file={out}",
        f"--dbname={dbname}",
    ]
    return argv, env


def _die_with_parent() -> None:
    """In the child, before exec: a SIGKILL of opsbook ends pg_dump too (Linux's
    PR_SET_PDEATHSIG), so a killed backup leaves no pg_dump writing into its folder."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the orphan finishes and exits alone
        pass


_PR_SET_PDEATHSIG = 1


class Running:
    """pg_dump (or pg_restore, psql) running: counts the table files it has finished,
    keeps its last lines of output for an error message."""

    def __init__(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        jobs: int,
        *,
        program: str = "pg_dump",
        item_done: Callable[[str], None] = lambda _: None,
        stdin: int = subprocess.DEVNULL,
    ) -> None:
        self.finished = 0
        self._item_done = item_done  # hears "3001" as `-j`'s leader finishes item 3001
        self.tail: deque[str] = deque(maxlen=20)
        self._prefix = f"{program}:"  # psql says `psql:FILE:LINE: ERROR: ...`
        # pg_restore's one job says `processing data for table "public.t"` per table.
        self._pattern = _FINISHED if jobs > 1 else (_STARTED if program == "pg_dump" else _DATA)
        self._process = subprocess.Popen(
            list(argv),
            env=env,
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            preexec_fn=_die_with_parent,
            # Its own group: `-j`'s workers are its children, and `stop` ends them too.
            process_group=0,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            found = self._pattern.search(line)
            if found:
                self.finished += 1
                if found.groups():
                    self._item_done(found.group(1))
            elif line.startswith(self._prefix) and not line.startswith(f"{self._prefix} reading"):
                self.tail.append(line.rstrip("\n"))

    def wait(self, tick: Callable[[], None], every: float = 0.2) -> int:
        """Wait for the program to end, calling `tick` every `every` seconds; its exit code."""
        while (code := self.poll(every)) is None:
            tick()
        return code

    def poll(self, timeout: float) -> int | None:
        """The exit code once the program has ended (waiting up to `timeout` seconds for
        it), else None."""
        try:
            code = self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(timeout=10)
        return code

    def stop(self) -> None:
        """Kill the program and the workers it forked (a worker left alone finishes the
        item it is on, however long that takes)."""
        if self._process.poll() is None:  # alive: its pid is still its group's id
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()

    def error(self) -> str:
        """The lines the program wrote that say what went wrong."""
        wrong = [line for line in self.tail if "error" in line.lower() or "fatal" in line]
        return "; ".join(wrong[-3:] or list(self.tail)[-3:]) or "no message"
