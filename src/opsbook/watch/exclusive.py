"""One alert transaction at a time, across every process that shares the store.

Where an alert goes is decided from what is open: its group's incident, its component's,
or a storm's (which counts the incidents alerts opened within a window, whatever their
component). Two transactions deciding at once each see the other's incident missing, and
both open one: a storm split over six incidents with `max_incidents: 3`, two incidents for
one component, a duplicate open alert refused by the unique index (a 500 to Alertmanager).
A lock per component or group would not cover the storm count, which spans them all, and
two of them taken in different orders by two batches could deadlock; so it is one lock.

On PostgreSQL it is a transaction-scoped advisory lock, taken before the batch reads (and
row-locks) its open alerts: every alert transaction takes its locks in the same order,
and under READ COMMITTED each statement after the lock sees every transaction that held it
before. It is released at commit, and nothing that waits on the network runs inside it
(runbook ranking comes after the commit). On SQLite every opsbook transaction begins with
BEGIN IMMEDIATE (`store.engine`) and so already holds the database's only write lock.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

_PG_ALERTS_LOCK_KEY = 0x0B5B0A1
_HELD = "opsbook.alerts_lock"


def hold_alert_lock(session: Session) -> None:
    """Take the alert lock for the rest of this transaction (once; later calls are free)."""
    held = session.info.get(_HELD)
    if held is not None and held is session.get_transaction():
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_ALERTS_LOCK_KEY})
    session.info[_HELD] = session.get_transaction()
