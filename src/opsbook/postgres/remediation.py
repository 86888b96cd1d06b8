"""Ending sessions safely: which sessions a request picks, and which must survive it.

Never ended: opsbook's own backend and any connection that says it is opsbook's
(application_name), replication and other system backends (they are not client
backends, so they never appear as targets), superuser-owned sessions unless forced,
another role's session whose details this role cannot see, and one PostgreSQL would not
let this role end (no pg_signal_backend).
The operations that end sessions, and audit it, are in `service`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from opsbook.postgres import queries
from opsbook.postgres.errors import Named, Wording
from opsbook.postgres.rights import HIDDEN


@dataclass(frozen=True)
class Session:
    """A client session as `sessions.sql` reads it: what a responder needs to decide
    whether to end it. `hidden`: another role's session whose state, query and times
    PostgreSQL hides from this role (only its pid, user, database and application show)."""

    pid: int
    database: str | None
    user: str | None
    superuser: bool
    application: str | None
    client: str | None
    backend_type: str | None
    state: str | None
    wait_event_type: str | None
    wait_event: str | None
    state_seconds: float | None
    query_seconds: float | None
    transaction_seconds: float | None
    query: str | None
    is_self: bool
    hidden: bool
    may_end: bool

    def describe(self) -> str:
        """`pid 123 (app_user@sandbox, web)`: how the audit log and the plan name it."""
        app = f", {self.application}" if self.application else ""
        return f"pid {self.pid} ({self.user}@{self.database}{app})"


Select = Callable[[Session], bool]


@dataclass(frozen=True)
class Protected:
    """A session the request picked that is kept, and why."""

    session: Session
    reason: Wording


@dataclass(frozen=True)
class Picked:
    """The sessions a request picks: those that may be ended and those that are kept; and
    the hidden sessions it could not judge (their state unknown to this role)."""

    targets: list[Session] = field(default_factory=list)
    protected: list[Protected] = field(default_factory=list)
    unseen: list[Session] = field(default_factory=list)


def protection(session: Session, *, force: bool) -> Wording | None:
    """Why a session must not be ended, or None when it may be."""
    if session.is_self:
        return Wording(("opsbook's own connection",))
    if (session.application or "").startswith("opsbook"):
        return Wording(("an opsbook connection",))
    if session.hidden:
        # Never ended blind: its state is unknown here, and without pg_signal_backend
        # PostgreSQL refuses to end another role's session anyway.
        return Wording((f"another role's session whose details this role cannot see ({HIDDEN})",))
    if session.backend_type != "client backend":
        return Wording(("a system backend",))
    if session.superuser and not force:
        return Wording(
            (f"owned by superuser {session.user} (", Named("force", "only when forced"), ")")
        )
    if not session.may_end:
        # PostgreSQL would refuse half-way through the plan: keep it in the plan instead.
        return Wording((f"this role may not end {session.user}'s sessions (pg_signal_backend)",))
    return None


def sessions(conn: psycopg.Connection[Any]) -> list[Session]:
    """Every client session on the server, oldest state change first."""
    return queries.fetch(conn, "sessions", Session)


def pick(conn: psycopg.Connection[Any], select: Select, *, force: bool = False) -> Picked:
    """The sessions `select` picks, split into targets and protected ones."""
    found = Picked()
    for session in sessions(conn):
        if not select(session):
            if session.hidden:
                found.unseen.append(session)
            continue
        reason = protection(session, force=force)
        if reason:
            found.protected.append(Protected(session, reason))
        else:
            found.targets.append(session)
    return found


def idle(older_than: dt.timedelta, *, in_transaction: bool, database: str | None) -> Select:
    """Sessions idle (or idle in a transaction) for at least `older_than`."""
    states = (
        {"idle in transaction", "idle in transaction (aborted)"} if in_transaction else {"idle"}
    )
    seconds = older_than.total_seconds()

    def chosen(session: Session) -> bool:
        return (
            session.state in states
            and (session.state_seconds or 0) >= seconds
            and (database is None or session.database == database)
        )

    return chosen


def by_pid(pids: Iterable[int]) -> Select:
    """Sessions with one of these pids."""
    wanted = set(pids)
    return lambda session: session.pid in wanted


def whole_database(database: str) -> Select:
    """Every client session of this database (protection still spares opsbook's own)."""
    return lambda session: session.database == database


def end(conn: psycopg.Connection[Any], pid: int, *, cancel: bool) -> bool:
    """Cancel the running query, or terminate the whole session; True if signalled."""
    function = "pg_cancel_backend" if cancel else "pg_terminate_backend"
    # `function` is one of the two names above, never outside text; the pid is bound.
    row = conn.execute(f"select {function}(%s)", (pid,)).fetchone()
    return bool(row and row[0])
