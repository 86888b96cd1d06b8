"""History cannot be rewritten: raw SQL against a real store of each backend is refused and
leaves every row as it was.

SQLite is attacked through a plain sqlite3 connection, the way the sqlite3 shell would:
foreign keys off, none of opsbook's pragmas. PostgreSQL is attacked through psycopg as
the store's own role (a superuser here, but one that plays by the triggers; what a
superuser can do past them is in test_audit_chain.py).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from opsbook.clock import FrozenClock
from opsbook.config.models import IncidentPolicy
from opsbook.incidents import service
from opsbook.store import Store, audit, open_store
from opsbook.watch.rules import prune_samples
from tests.conftest import T0

Execute = Callable[[str], object]

# Literals both backends take: a timestamp SQLite stores as text and PostgreSQL parses.
FORGED_AUDIT = (
    "(id, at, actor, action, target, outcome, ref, details)"
    " VALUES (1, '2026-01-01 00:00:00', 'mallory', 'nothing', 'x', 'ok', NULL, '{}')"
)
FORGED_EVENT = (
    "(id, incident_id, at, actor, kind, text, public, data)"
    " VALUES (1, 1, '2026-01-01 00:00:00', 'mallory', 'note', 'all fine', FALSE, '{}')"
)
# Every column given, so the row gets as far as the conflict (NOT NULL is checked first).
FORGED_CHAINED = (
    "(id, at, actor, action, target, outcome, ref, details, seq, prev_hash, hash)"
    " VALUES ({id}, '2026-01-01 00:00:00', 'mallory', 'nothing', 'x', 'ok', NULL, '{{}}',"
    " {seq}, 'x', 'x')"
)

SQLITE_ATTACKS = {
    # The three.
    "audit_log INSERT OR REPLACE over id 1": [f"INSERT OR REPLACE INTO audit_log {FORGED_AUDIT}"],
    "incident_events REPLACE over id 1": [f"REPLACE INTO incident_events {FORGED_EVENT}"],
    "incidents DELETE id 1": ["DELETE FROM incidents WHERE id = 1"],
    # A fresh id clashing on the chain's unique seq: REPLACE would delete chain row 1.
    "audit_log REPLACE over seq 1 under a new id": [
        "REPLACE INTO audit_log " + FORGED_CHAINED.format(id=99, seq=1)
    ],
    "audit_log upsert": [
        f"INSERT INTO audit_log {FORGED_AUDIT} ON CONFLICT (id) DO UPDATE SET outcome = 'ok'"
    ],
    "audit_log UPDATE": ["UPDATE audit_log SET outcome = 'ok' WHERE id = 1"],
    "audit_log DELETE": ["DELETE FROM audit_log WHERE id = 1"],
    "incident_events INSERT OR REPLACE": [f"INSERT OR REPLACE INTO incident_events {FORGED_EVENT}"],
    "incident_events upsert": [
        f"INSERT INTO incident_events {FORGED_EVENT} ON CONFLICT (id) DO UPDATE SET text = 'ok'"
    ],
    "incident_events UPDATE": ["UPDATE incident_events SET text = 'all fine'"],
    "incident_events DELETE": ["DELETE FROM incident_events WHERE incident_id = 1"],
    # With recursive_triggers on, REPLACE's implicit delete fires the DELETE trigger too:
    # refused either way, by whichever trigger runs first.
    "incident_events REPLACE with recursive_triggers on": [
        "PRAGMA recursive_triggers = ON",
        f"REPLACE INTO incident_events {FORGED_EVENT}",
    ],
    "incidents REPLACE over id 1": [
        "REPLACE INTO incidents (id, title, severity, status, symptoms, opened_at, opened_by)"
        " VALUES (1, 'nothing', 'P3', 'resolved', '[]', '2026-01-01 00:00:00', 'mallory')"
    ],
    "incidents UPDATE id away from its timeline": ["UPDATE incidents SET id = 99 WHERE id = 1"],
    "incidents UPDATE OR REPLACE id onto another": [
        "UPDATE OR REPLACE incidents SET id = 2 WHERE id = 1"
    ],
}

PG_ATTACKS = {
    "audit_log upsert on id": [
        "INSERT INTO audit_log "
        + FORGED_CHAINED.format(id=1, seq=99)
        + " ON CONFLICT (id) DO UPDATE SET outcome = 'ok'"
    ],
    "audit_log upsert on seq": [
        "INSERT INTO audit_log "
        + FORGED_CHAINED.format(id=99, seq=1)
        + " ON CONFLICT (seq) DO UPDATE SET outcome = 'ok'"
    ],
    "audit_log UPDATE": ["UPDATE audit_log SET outcome = 'ok' WHERE id = 1"],
    "audit_log DELETE": ["DELETE FROM audit_log WHERE id = 1"],
    "audit_log TRUNCATE": ["TRUNCATE audit_log"],
    "incident_events upsert": [
        f"INSERT INTO incident_events {FORGED_EVENT} ON CONFLICT (id) DO UPDATE SET text = 'ok'"
    ],
    "incident_events UPDATE": ["UPDATE incident_events SET text = 'all fine'"],
    "incident_events DELETE": ["DELETE FROM incident_events WHERE incident_id = 1"],
    "incident_events TRUNCATE": ["TRUNCATE incident_events"],
    "incidents DELETE id 1": ["DELETE FROM incidents WHERE id = 1"],
    "incidents MERGE .. DELETE": [
        "MERGE INTO incidents USING (SELECT 1 AS id) AS gone ON incidents.id = gone.id"
        " WHEN MATCHED THEN DELETE"
    ],
    "incidents UPDATE id away from its timeline": ["UPDATE incidents SET id = 99 WHERE id = 1"],
    "incidents TRUNCATE CASCADE": ["TRUNCATE incidents CASCADE"],
}

SNAPSHOT = [
    "SELECT * FROM audit_log ORDER BY id",
    "SELECT * FROM incident_events ORDER BY id",
    "SELECT * FROM incidents ORDER BY id",
]


def _write_history(url: str) -> None:
    """Two audit rows; two incidents, each with a timeline of two lines."""
    clock = FrozenClock(T0)
    store = open_store(url)
    with store.session() as session:
        for outcome in ("started", "failed"):
            audit.record(session, action="db.restore", target="db", outcome=outcome, clock=clock)
        for title in ("Site down", "Auth broken"):
            incident = service.open_incident(
                session, title=title, severity="P0", actor="alice", clock=clock
            )
            service.note(session, incident_id=incident.id, actor="alice", clock=clock, text="Hm")
    store.close()


def _assert_refused(execute: Execute, snapshot: Callable[[], Any], statements: list[str]) -> None:
    before = snapshot()
    assert all(before), "every table has rows to attack"
    with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="refused"):
        for statement in statements:
            execute(statement)
    assert snapshot() == before


@pytest.mark.parametrize("statements", SQLITE_ATTACKS.values(), ids=SQLITE_ATTACKS.keys())
def test_sqlite_refuses(tmp_path: Path, statements: list[str]) -> None:
    path = tmp_path / "opsbook.db"
    _write_history(f"sqlite:///{path}")
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        assert connection.execute("PRAGMA foreign_keys").fetchone() == (0,)

        def snapshot() -> list[list[Any]]:
            return [connection.execute(query).fetchall() for query in SNAPSHOT]

        _assert_refused(connection.execute, snapshot, statements)
    finally:
        connection.close()


@pytest.mark.parametrize("statements", PG_ATTACKS.values(), ids=PG_ATTACKS.keys())
def test_postgresql_refuses(pg_url: str, statements: list[str]) -> None:
    _write_history(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as connection:

        def snapshot() -> list[list[Any]]:
            return [connection.execute(query).fetchall() for query in SNAPSHOT]

        _assert_refused(connection.execute, snapshot, statements)


def test_incidents_still_change_and_watch_history_still_prunes(store: Store) -> None:
    """What the guards must not stop: an incident's own fields move with its timeline, and
    watch samples (not history) are pruned."""
    clock = FrozenClock(T0)
    with store.session() as session:
        incident = service.open_incident(
            session, title="Site down", severity="P0", actor="alice", clock=clock
        )
        service.acknowledge(session, incident_id=incident.id, actor="alice", clock=clock)
        service.change_severity(
            session,
            incident_id=incident.id,
            severity="P1",
            reason="auth only",
            actor="a",
            clock=clock,
        )
        service.update(
            session,
            incident_id=incident.id,
            status="monitoring",
            message="fixed",
            actor="a",
            clock=clock,
        )
        service.resolve(
            session,
            incident_id=incident.id,
            actor="a",
            clock=clock,
            policy=IncidentPolicy(),
            force=True,
        )
        service.set_postmortem_fields(
            session, incident_id=incident.id, actor="a", clock=clock, impact="1h of 500s"
        )
        [item] = service.list_actions(session, incident_id=incident.id)
        service.complete_action(
            session, incident_id=incident.id, item_id=item.id, clock=clock, actor="a"
        )
        assert prune_samples(session, before=T0 + dt.timedelta(days=1)) == 0
    with store.session() as session:
        done = service.get(session, incident_id=incident.id)
        assert (done.status, done.severity, done.impact) == ("resolved", "P1", "1h of 500s")
        # Eight: the forced resolve adds its private note.
        assert len(service.timeline(session, incident_id=incident.id)) == 8
