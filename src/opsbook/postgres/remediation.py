"""Ending sessions safely: plan first, protect what must survive, audit what is done.

Never ended: opsbook's own backend and any connection that says it is opsbook's
(application_name), replication and other system backends (they are not client
backends, so they never appear as targets), and superuser-owned sessions unless forced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from opsbook.clock import Clock
from opsbook.incidents import service as incidents
from opsbook.postgres import queries
from opsbook.store import Store
from opsbook.store.audit import audited

Session = dict[str, Any]


@dataclass
class Plan:
    targets: list[Session] = field(default_factory=list)
    protected: list[tuple[Session, str]] = field(default_factory=list)


def protection(session: Session, *, force: bool) -> str | None:
    """Why a session must not be ended, or None when it may be."""
    if session["is_self"]:
        return "opsbook's own connection"
    if (session["application"] or "").startswith("opsbook"):
        return "an opsbook connection"
    if session["backend_type"] != "client backend":
        return "a system backend"
    if session["superuser"] and not force:
        return f"owned by superuser {session['user']} (pass --force to include it)"
    return None


def plan(
    conn: psycopg.Connection[Any], select: Callable[[Session], bool], *, force: bool = False
) -> Plan:
    result = Plan()
    for session in queries.rows(conn, "sessions"):
        if not select(session):
            continue
        reason = protection(session, force=force)
        if reason:
            result.protected.append((session, reason))
        else:
            result.targets.append(session)
    return result


def idle(
    older_than: float, *, in_transaction: bool, database: str | None
) -> Callable[[Session], bool]:
    states = (
        {"idle in transaction", "idle in transaction (aborted)"} if in_transaction else {"idle"}
    )

    def pick(session: Session) -> bool:
        return (
            session["state"] in states
            and (session["state_seconds"] or 0) >= older_than
            and (database is None or session["database"] == database)
        )

    return pick


def by_pid(pids: Iterable[int]) -> Callable[[Session], bool]:
    wanted = set(pids)
    return lambda session: session["pid"] in wanted


def whole_database(database: str) -> Callable[[Session], bool]:
    return lambda session: session["database"] == database


def end(conn: psycopg.Connection[Any], pid: int, *, cancel: bool) -> bool:
    """Cancel the running query, or terminate the whole session; True if signalled."""
    function = "pg_cancel_backend" if cancel else "pg_terminate_backend"
    row = conn.execute(f"select {function}(%s)", (pid,)).fetchone()
    return bool(row and row[0])


def end_sessions(
    conn: psycopg.Connection[Any],
    targets: list[Session],
    *,
    store: Store,
    actor: str,
    clock: Clock,
    cancel: bool,
    incident_id: int | None = None,
) -> list[int]:
    """End each target, one audit record pair per session; note the result on the incident."""
    action = "db.cancel" if cancel else "db.terminate"
    done: list[int] = []
    for target in targets:
        details = {
            "state": target["state"],
            "query": target["query"],
            "idle_seconds": target["state_seconds"],
            "user": target["user"],
        }
        with audited(
            store, action=action, target=describe(target), actor=actor, details=details, clock=clock
        ) as record:
            ended = end(conn, target["pid"], cancel=cancel)
            record.outcome = "ok" if ended else "gone"
        if ended:
            done.append(target["pid"])
    if incident_id is not None and targets:
        with store.session() as session:
            incident = incidents.get(session, incident_id=incident_id)
            word = "cancelled queries of" if cancel else "terminated"
            incidents.log_event(
                session,
                incident=incident,
                kind="db.remediation",
                actor=actor,
                clock=clock,
                text=f"{word} {len(done)} session(s): " + ", ".join(str(p) for p in done),
                data={"action": action, "pids": done},
            )
    return done


def describe(session: Session) -> str:
    app = f", {session['application']}" if session["application"] else ""
    return f"pid {session['pid']} ({session['user']}@{session['database']}{app})"
