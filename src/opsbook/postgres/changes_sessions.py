"""Ending sessions, planned then done: idle sessions or sessions by pid (or the whole
database), each end audited, intent then outcome, and noted on the incident."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from opsbook.clock import Clock
from opsbook.incidents import service as incidents
from opsbook.postgres import remediation, rights
from opsbook.postgres.changes import Connection
from opsbook.postgres.errors import PostgresError
from opsbook.postgres.remediation import Protected, Session
from opsbook.postgres.rights import Visibility
from opsbook.store import Store
from opsbook.store.audit import audited


class MissingSessions(PostgresError):
    """A pid names no client session: the whole request is refused before anything ends."""


class UnknownIncident(PostgresError):
    """The incident to note the result on does not exist."""


@dataclass(frozen=True)
class SessionPlan:
    """The sessions a request would end, those it keeps and why, and how it would end them.
    `unseen`: sessions of this database whose state this role cannot read, so it cannot
    tell whether the request would pick them (`visibility` says what to grant)."""

    targets: list[Session]
    protected: list[Protected]
    cancel: bool = False
    unseen: list[int] = field(default_factory=list)
    visibility: Visibility | None = None

    @property
    def verb(self) -> str:
        return "cancel the query of" if self.cancel else "terminate"


@dataclass(frozen=True)
class Ended:
    """The pids signalled, out of the plan's targets (a session may end on its own first)."""

    pids: list[int]
    cancel: bool


def plan_terminate_idle(
    *,
    conn: Connection,
    older_than: dt.timedelta,
    in_transaction: bool = False,
    force: bool = False,
) -> SessionPlan:
    """Sessions of this database idle (or idle in a transaction) for at least `older_than`."""
    database = _database(conn)
    select = remediation.idle(older_than, in_transaction=in_transaction, database=database)
    found = remediation.pick(conn, select, force=force)
    unseen = [s.pid for s in found.unseen if s.database == database]
    return SessionPlan(
        found.targets, found.protected, unseen=unseen, visibility=rights.visibility(conn)
    )


def plan_kill(
    *,
    conn: Connection,
    pids: Sequence[int] | None,
    cancel: bool = False,
    force: bool = False,
) -> SessionPlan:
    """Sessions by pid, or (`pids` None) every other client session of this database.

    A pid that names no client session refuses the whole request before anything ends: a
    mistyped pid must not end the others while the one meant runs on.
    """
    select = (
        remediation.whole_database(_database(conn)) if pids is None else remediation.by_pid(pids)
    )
    found = remediation.pick(conn, select, force=force)
    seen = {s.pid for s in found.targets} | {p.session.pid for p in found.protected}
    missing = [pid for pid in pids or () if pid not in seen]
    if missing:
        raise MissingSessions(
            f"no client session with pid {', '.join(map(str, missing))}"
            " (system and replication backends are never ended)"
        )
    return SessionPlan(found.targets, found.protected, cancel, visibility=rights.visibility(conn))


def end_sessions(
    *,
    conn: Connection,
    plan: SessionPlan,
    store: Store,
    actor: str,
    clock: Clock,
    incident_id: int | None = None,
) -> Ended:
    """End the plan's targets, each audited (intent, then outcome), and note the result on
    the incident. An unknown incident refuses before any session is ended."""
    _known_incident(store, incident_id)
    action = "db.cancel" if plan.cancel else "db.terminate"
    done: list[int] = []
    for target in plan.targets:
        details = {
            "state": target.state,
            "query": target.query,
            "idle_seconds": target.state_seconds,
            "user": target.user,
        }
        with audited(
            store,
            action=action,
            target=target.describe(),
            actor=actor,
            details=details,
            clock=clock,
        ) as record:
            signalled = remediation.end(conn, target.pid, cancel=plan.cancel)
            record.outcome = "ok" if signalled else "gone"
        if signalled:
            done.append(target.pid)
    if incident_id is not None and plan.targets:
        word = "cancelled queries of" if plan.cancel else "terminated"
        with store.session() as session:
            incidents.log_event(
                session,
                incident=incidents.get(session, incident_id=incident_id),
                kind="db.remediation",
                actor=actor,
                clock=clock,
                text=f"{word} {len(done)} session(s): " + ", ".join(str(p) for p in done),
                data={"action": action, "pids": done},
            )
    return Ended(done, plan.cancel)


def _known_incident(store: Store, incident_id: int | None) -> None:
    if incident_id is None:
        return
    with store.session() as session:
        try:
            incidents.get(session, incident_id=incident_id)
        except incidents.IncidentError as exc:
            raise UnknownIncident(str(exc)) from None


def _database(conn: Connection) -> str:
    row = conn.execute("select current_database()").fetchone()
    assert row is not None
    return str(row[0])
