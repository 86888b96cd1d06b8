"""Fault switches: each one makes the sandbox misbehave the way a real incident looks."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from opsbook.bodies import shown
from opsbook.postgres import queries
from opsbook.sandbox.providers import STATUS_PROVIDERS

PROVIDERS = ("clerk", "vapi", "stripe")


class FaultValueError(ValueError):
    """A value this fault cannot take (the caller's mistake: 422, exit 2)."""


class FaultUnavailable(RuntimeError):
    """The database would not let the fault act right now (503); nothing was kept."""


LATENCY_MAX_MS = 600_000  # ten minutes: far past any check's timeout
LONG_QUERY_MAX_SECONDS = 86_400.0
LEAK_MAX = 500  # the most leak-connections holds on any server...
LEAK_HEADROOM = 10  # ...and it leaves this many usable connections free
_COMMIT = re.compile(r"[0-9a-fA-F]{4,64}")


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "on", "yes"):
        return True
    if text in ("0", "false", "off", "no"):
        return False
    raise FaultValueError(f"{shown(value)} is not on or off")


def _whole(maximum: int | None = None) -> Callable[[Any], int]:
    """A parser for a count written 50 or "50": ASCII digits only (int() would also take
    "١٢", "1_000" and a sign), and at most `maximum` when given."""
    scope = f" from 0 to {maximum}" if maximum is not None else ""

    def parse(value: Any) -> int:
        text = str(value).strip() if isinstance(value, int | str) else ""
        # int() refuses past 4,300 digits; no count needs 100.
        digits = text.isascii() and text.isdigit() and len(text) <= 100
        number = int(text) if digits and not isinstance(value, bool) else -1
        if number < 0 or (maximum is not None and number > maximum):
            raise FaultValueError(f"{shown(value)} is not a whole number{scope}")
        return number

    return parse


def _seconds(value: Any) -> float:
    try:
        number = float(str(value).strip().removesuffix("s"))
    except ValueError:
        raise FaultValueError(f"{shown(value)} is not a number of seconds") from None
    if isinstance(value, bool) or not 0 < number <= LONG_QUERY_MAX_SECONDS:  # NaN fails too
        raise FaultValueError(
            f"{shown(value)} is not a number of seconds above 0 and up to"
            f" {LONG_QUERY_MAX_SECONDS:.0f}"
        )
    return number


def _share(value: Any) -> float:
    text = str(value).strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise FaultValueError(f"{shown(value)} is not a share (use 0.25 or 25%)") from None
    if isinstance(value, bool) or not 0 <= number <= 1:  # NaN fails too
        raise FaultValueError(f"{shown(value)} must be between 0 and 1 (or 0% and 100%)")
    return number


def commit_of(value: Any) -> str:
    """What /api/version will report: a commit id, never text a page or terminal would
    interpret."""
    if not isinstance(value, str) or not _COMMIT.fullmatch(value.strip()):
        raise FaultValueError(f"{shown(value)} is not a commit (4 to 64 hex digits)")
    return value.strip()


def _status_of(allowed: Sequence[int]) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        text = str(value).strip()
        if isinstance(value, bool) or text not in {str(a) for a in allowed}:
            raise FaultValueError(f"{shown(value)} is not one of {', '.join(map(str, allowed))}")
        return int(text)

    return parse


def _one_or_more(choices: Sequence[str]) -> Callable[[Any], list[str]]:
    """A parser for "clerk,stripe" or ["clerk", "stripe"] that names what it does not know."""

    def parse(value: Any) -> list[str]:
        items = value if isinstance(value, list) else str(value).split(",")
        names = [str(i).strip().lower() for i in items if str(i).strip()]
        if not names or any(n not in choices for n in names):
            raise FaultValueError(f"{shown(value)}: name one or more of {', '.join(choices)}")
        return names

    return parse


@dataclass(frozen=True)
class FaultSpec:
    name: str
    help: str
    parse: Callable[[Any], Any]
    default: Any
    example: str


FAULTS: dict[str, FaultSpec] = {
    spec.name: spec
    for spec in (
        FaultSpec("health-500", "GET /api/health answers 500", _flag, True, "on"),
        FaultSpec(
            "latency", "add N milliseconds to every request", _whole(LATENCY_MAX_MS), 2000, "2000"
        ),
        FaultSpec(
            "wrong-version",
            "GET /api/version reports another commit",
            commit_of,
            "deadbeef",
            "deadbeef",
        ),
        FaultSpec(
            "webhook-404",
            "these webhook routes answer 404 (not deployed)",
            _one_or_more(PROVIDERS),
            ["clerk"],
            "clerk,stripe",
        ),
        FaultSpec(
            "error-rate", "this share of page and API requests fail with 503", _share, 0.5, "0.25"
        ),
        FaultSpec("leak-connections", "hold N idle database connections open", _whole(), 20, "50"),
        FaultSpec("long-query", "run a query that takes N seconds", _seconds, 300.0, "600"),
        FaultSpec(
            "auth-broken", "sign-in and signed-in routes fail: 'Session expired'", _flag, True, "on"
        ),
        FaultSpec(
            "signed-out",
            "signed-in pages redirect (307) to /sign-in unless the request carries the"
            " sandbox's session cookie (__session), as for a visitor not signed in",
            _flag,
            True,
            "on",
        ),
        FaultSpec(
            "vercel-refuses",
            "the fake Vercel API refuses every token with this status (401 or 403)",
            _status_of((401, 403)),
            403,
            "401",
        ),
        FaultSpec(
            "vercel-stuck",
            "the fake Vercel API accepts a promote and never serves it",
            _flag,
            True,
            "on",
        ),
        FaultSpec(
            "vercel-promote-fails",
            "the fake Vercel API promotes (the deployment serves) and then answers 500",
            _flag,
            True,
            "on",
        ),
        FaultSpec(
            "provider-outage",
            "these providers' status pages report a major incident",
            _one_or_more(list(STATUS_PROVIDERS)),
            ["vercel"],
            "vercel,supabase",
        ),
    )
}


class LeakedConnections:
    """Idle connections held open, as a client that forgets to close them would."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._held: list[psycopg.Connection[Any]] = []

    def resize(self, count: int) -> None:
        """Hold `count` connections. More than the server can spare is refused before any
        is opened; should the database refuse one midway, the ones opened for this call
        are closed again and the previous count stays."""
        if count > len(self._held):
            self._check_cap(count)
        opened: list[psycopg.Connection[Any]] = []
        try:
            while len(self._held) + len(opened) < count:
                opened.append(self._connect())
        except psycopg.Error as exc:
            for conn in opened:
                conn.close()
            raise FaultUnavailable(
                f"the database refused connection {len(self._held) + len(opened) + 1} of"
                f" {count} ({_first_line(exc)}); {len(self._held)} are held, as before"
            ) from None
        self._held.extend(opened)
        while len(self._held) > count:
            self._held.pop().close()

    def _check_cap(self, count: int) -> None:
        """The cap: never more than LEAK_MAX, and never so many that the usable connections
        (max_connections less the superusers' reserve, as opsbook's database checks count
        them) have fewer than LEAK_HEADROOM left for the app and its responders."""
        try:
            with self._connect() as conn:
                server = queries.one(conn, "server_info")
        except psycopg.Error as exc:
            raise FaultUnavailable(f"cannot ask the database: {_first_line(exc)}") from None
        usable = server["max_connections"] - server["reserved_connections"]
        cap = max(0, min(LEAK_MAX, usable - LEAK_HEADROOM))
        if count > cap:
            raise FaultValueError(
                f"{count} is more than {cap}, the most this fault holds here"
                f" (max_connections {server['max_connections']} less"
                f" {server['reserved_connections']} reserved and {LEAK_HEADROOM} kept free;"
                f" never more than {LEAK_MAX})"
            )

    def _connect(self) -> psycopg.Connection[Any]:
        conn = _connect(self.conninfo)
        conn.execute("select 1")
        return conn

    def close(self) -> None:
        self.resize(0)


def _connect(conninfo: str) -> psycopg.Connection[Any]:
    """A connection of the sandbox's own (pg_stat_activity shows it as 'sandbox')."""
    return psycopg.connect(conninfo, autocommit=True, application_name="sandbox", connect_timeout=5)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class LongQuery:
    """A runaway query: an active backend sleeping in pg_sleep until cancelled."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: psycopg.Connection[Any] | None = None
        self._thread: threading.Thread | None = None

    def start(self, seconds: float) -> None:
        try:  # connected before the running query stops: a refusal leaves that one going
            conn = _connect(self.conninfo)
        except psycopg.Error as exc:
            raise FaultUnavailable(f"cannot connect: {_first_line(exc)}") from None
        self.stop()
        self._conn = conn

        def run() -> None:
            # Cancelled or terminated is exactly what a responder would do to it.
            with contextlib.suppress(psycopg.Error):
                conn.execute(
                    "select pg_sleep(%s) /* sandbox long-query: report by scenario */",
                    (seconds,),
                )

        self._thread = threading.Thread(target=run, name="sandbox-long-query", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.cancel_safe()
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._conn.close()
        self._conn = None
        self._thread = None


class FaultState:
    """The switches currently on; changes to DB-side faults act on the database at once."""

    def __init__(self, conninfo: str) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        self.leaks = LeakedConnections(conninfo)
        self.long_query = LongQuery(conninfo)

    def get(self, name: str) -> Any:
        return self._values.get(name)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._values)

    def set(self, name: str, raw: Any) -> Any:
        spec = FAULTS[name]
        value = spec.default if raw is None else spec.parse(raw)
        with self._lock:
            if name == "leak-connections":
                self.leaks.resize(value)
            elif name == "long-query":
                self.long_query.start(value)
            self._values[name] = value
        return value

    def clear(self, name: str) -> None:
        with self._lock:
            if name == "leak-connections":
                self.leaks.resize(0)
            elif name == "long-query":
                self.long_query.stop()
            self._values.pop(name, None)

    def clear_all(self) -> None:
        """Every fault off and every side effect undone, whatever the switches say: a
        switch that failed midway must not leave connections or a query behind."""
        with self._lock:
            self.leaks.resize(0)
            self.long_query.stop()
            self._values.clear()

    def close(self) -> None:
        self.clear_all()
