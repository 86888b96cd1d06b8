"""The app started against a restored database, until its health check says ok: the
seed's "Deploy app pointing to test DB", done on this machine.

The command is an argument list (shlex.split of what was typed) run without a shell, so
`;`, `$(...)`, quotes and backticks in it are the program's arguments, never commands.
It is told the restored database as DATABASE_URL (a postgresql:// URI, the password
percent-encoded: the keyword form `host=... dbname=...` is libpq's, and most apps' URL
parsers refuse it) and a free port on 127.0.0.1 as PORT, the two variables twelve-factor
apps read (`opsbook sandbox run` reads both). Nothing else of opsbook's environment goes
with them but PATH, HOME and the locale: opsbook's own may hold production's PGPASSWORD
and paging tokens, which an app under test has no business seeing. The health
check asks `http://127.0.0.1:$PORT` + app.health_path, or the app URL given when the app
listens elsewhere, and passes on a 200 answering `{"status": "ok"}`, as a deploy's
health stage does. The app runs in a process group of its own, ended whatever happens
(failure, timeout, Ctrl-C), so a command that forks a server and workers leaves none.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote, urlencode, urlsplit

from psycopg.conninfo import conninfo_to_dict

from opsbook.backups.errors import BackupError
from opsbook.clock import Clock, Sleep
from opsbook.config import Config
from opsbook.config.secrets import mask_text, passwords_in
from opsbook.console import visible
from opsbook.postgres.cluster import free_port
from opsbook.watch.checks.fetch import Unreachable, request
from opsbook.watch.probe import ProbeContext, new_session

MAX_COMMAND = 4096
POLL = 0.1
STOP_WAIT = 5.0


@dataclass(frozen=True)
class AppRun:
    """How to start the app and where to ask it whether it is healthy."""

    argv: list[str]
    health_path: str
    url: str | None = None  # else http://127.0.0.1:$PORT
    timeout: float = 60.0


@dataclass(frozen=True)
class AppResult:
    ok: bool
    saw: str
    url: str


def parse_command(text: str) -> list[str]:
    """The app command as an argument list; BackupError naming what is wrong with it."""
    if not text.strip() or len(text) > MAX_COMMAND:
        raise BackupError(f"app command {visible(text[:80])!r}: 1 to {MAX_COMMAND} characters")
    if "\x00" in text:
        raise BackupError(f"app command {visible(text[:200])!r} holds a NUL")
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise BackupError(f"app command {visible(text[:200])!r}: {exc}") from None


def check_url(url: str) -> str:
    """An app URL: http(s), a host, no control character; BackupError naming it."""
    shown = visible(url[:200])
    if len(url) > MAX_COMMAND or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise BackupError(f"app URL {shown!r}: a control character or too long")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (reading it checks it)
    except ValueError as exc:
        raise BackupError(f"app URL {shown!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BackupError(f"app URL {shown!r}: an http:// or https:// URL with a host")
    return url


def check_app(
    app: AppRun,
    database_url: str,
    *,
    config: Config,
    clock: Clock,
    timer: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> AppResult:
    """Start the app on `database_url`, wait for its health check, stop it."""
    port = free_port()
    url = (app.url or f"http://127.0.0.1:{port}").rstrip("/") + app.health_path
    env = app_environment(database_url, port)
    uri = env["DATABASE_URL"]
    secrets = [database_url, uri, *passwords_in(database_url), *passwords_in(uri)]
    with tempfile.TemporaryFile() as log:
        try:
            process = subprocess.Popen(
                app.argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            said = f"{visible(app.argv[0])!r} did not start: {exc.strerror or exc}"
            return AppResult(False, f"the app command {said}", url)
        try:
            waiting = _Waiting(process, url, app.timeout, config, clock, timer, sleep)
            ok, saw = asyncio.run(waiting.healthy())
        finally:
            _stop(process)
        if not ok and process.returncode is not None:
            saw += _tail(log, secrets)
    return AppResult(ok, mask_text(saw, secrets), url)


PASSED_ON = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")


def app_environment(database_url: str, port: int) -> dict[str, str]:
    """All the app is given: PATH, HOME, the locale, DATABASE_URL (a URI) and PORT."""
    kept = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    return {**kept, "DATABASE_URL": as_uri(database_url), "PORT": str(port)}


def as_uri(conninfo: str) -> str:
    """A libpq connection string (either form) as `postgresql://user:password@host:port/db`
    with every part percent-encoded; other settings (a socket folder too) as the query."""
    params = {k: str(v) for k, v in conninfo_to_dict(conninfo).items()}
    user, password = params.pop("user", None), params.pop("password", None)
    host, port = params.pop("host", ""), params.pop("port", None)
    dbname = params.pop("dbname", None)
    if host.startswith("/"):
        params["host"], host = host, ""
    who = quote(user, safe="") if user else ""
    who += f":{quote(password, safe='')}" if password is not None else ""
    where = f"[{host}]" if ":" in host else quote(host, safe="")
    where += f":{port}" if port else ""
    path = f"/{quote(dbname, safe='')}" if dbname else ""
    query = f"?{urlencode(params, quote_via=quote)}" if params else ""
    return f"postgresql://{who}{'@' if who else ''}{where}{path}{query}"


@dataclass
class _Waiting:
    process: subprocess.Popen[bytes]
    url: str
    timeout: float
    config: Config
    clock: Clock
    timer: Callable[[], float]
    sleep: Sleep

    async def healthy(self) -> tuple[bool, str]:
        """(True, what it answered) once healthy; (False, why not) when it exits first or
        the time is up."""
        deadline = self.timer() + self.timeout
        last = "no answer yet"
        async with new_session(limit=1) as session:
            probe = ProbeContext(session, self.config, self.clock)
            while True:
                code = self.process.poll()
                if code is not None:
                    return False, f"the app exited with code {code} before it was healthy"
                ok, last = await self._ask(probe)
                if ok:
                    return True, last
                if self.timer() >= deadline:
                    return False, f"not healthy within {self.timeout:g}s: {last}"
                await self.sleep(POLL)

    async def _ask(self, probe: ProbeContext) -> tuple[bool, str]:
        try:
            answer = await request(probe, "GET", self.url, timeout=5.0, follow_redirects=False)
        except Unreachable as exc:
            return False, f"GET {self.url}: {exc}"
        try:
            body: Any = answer.json()
        except ValueError:
            body = None
        ok = answer.status == 200 and isinstance(body, dict) and body.get("status") == "ok"
        return ok, f"GET {self.url}: {answer.status} {visible(answer.text[:200])}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the app's whole process group: politely, then for good."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sent)
        try:
            process.wait(timeout=STOP_WAIT)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(log: IO[bytes], secrets: list[str]) -> str:
    """The app's last lines of output, for a failure message."""
    log.seek(0, os.SEEK_END)
    size = log.tell()
    log.seek(max(0, size - 2000))
    lines = [line for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    return f"; it said: {visible(mask_text(' | '.join(lines[-3:]), secrets))}" if lines else ""
