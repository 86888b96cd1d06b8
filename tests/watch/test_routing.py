"""Routing: what a firing alert did (as data), and the runbook suggestion ranked only once
the alert transaction has committed."""

from __future__ import annotations

import os
import sqlite3
import textwrap
import threading
from pathlib import Path

from sqlalchemy import text

from opsbook.clock import FrozenClock
from opsbook.config import Config, load_config
from opsbook.incidents import service as incidents
from opsbook.store import Store
from opsbook.watch import alerts, rules, service
from opsbook.watch.result import CheckResult, State
from tests.conftest import wait_for


def _check(
    name: str,
    severity: str,
    clock: FrozenClock,
    *,
    state: State = "down",
    component: str | None = None,
    runbook: str | None = None,
) -> alerts.Signal:
    result = CheckResult(
        name,
        "http",
        state,
        f"GET /{name}: refused",
        clock.now(),
        component=component,
        severity=severity,
        runbook=runbook,
    )
    return rules.signal_from_check(result, failing=True)


def test_route_says_what_it_did(store: Store, clock: FrozenClock) -> None:
    config = Config.model_validate({"alerts": {"grouping": {"window": "10m", "max_incidents": 2}}})
    signals = [
        _check("api-1", "P2", clock, component="app"),
        _check("web", "P1", clock, component="app", runbook="p0-outage"),
        _check("api-2", "P2", clock, runbook="p0-outage"),
        _check("api-3", "P2", clock),
        _check("health", "P0", clock),
        _check("disk", "P1", clock, state="degraded"),
    ]
    with store.session() as session:
        routed = alerts.apply_many(session, signals, config=config, clock=clock).routed
    assert [(r.rule, r.action, r.incident_id, r.severity, r.raised_from) for r in routed] == [
        ("check:api-1", "opened", 1, "P2", None),
        ("check:web", "attached", 1, "P1", "P2"),  # joins its component's incident, raises it
        ("check:api-2", "opened", 2, "P2", None),
        ("check:api-3", "grouped", 2, "P2", None),  # two opened by alerts: a storm
        ("check:health", "grouped", 2, "P0", "P2"),  # the storm holds a P0: raised
        ("check:disk", "none", None, None, None),  # degraded: warns, opens nothing
    ]
    # Only an incident opened without a named runbook waits for a ranked one.
    assert [r.rule for r in routed if r.suggest is not None] == ["check:api-1"]
    assert routed[0].suggest is not None and routed[0].suggest.component == "app"


# --- the suggestion, outside the alert transaction ---------------------------------------------

PROBE = """\
name: probe
title: Health check failing, GET api health refused
symptoms: [health check failing]
components: [app]
severity: [P0]
steps:
  - {id: look, title: Look, manual: look at the health endpoint}
"""


def _config(tmp_path: Path) -> Config:
    (tmp_path / "opsbook.yaml").write_text("runbooks:\n  paths: [runbooks]\n")
    return load_config(tmp_path / "opsbook.yaml")


def _failing(clock: FrozenClock) -> CheckResult:
    return CheckResult(
        "health",
        "http",
        "down",
        "GET /api/health: refused",
        clock.now(),
        component="app",
        severity="P0",
    )


def _open_writer(fifo: Path) -> int:
    """Open the FIFO for writing, which succeeds only once a reader holds it open: from then
    on the suggester is inside its read of the runbook, and stays there until we write."""
    opened: list[int] = []

    def reader_waiting() -> bool:
        try:
            opened.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # ENXIO: nobody reads it yet
            return False
        return True

    wait_for(reader_waiting)
    return opened[0]


def _store_now(store: Store) -> tuple[int, int, int]:
    """From a connection of our own: (incidents, firing alerts) as committed, and how many
    transactions other connections hold open on the store."""
    count = (
        "select (select count(*) from incidents),"
        " (select count(*) from alerts where state = 'firing')"
    )
    if store.dialect == "sqlite":
        path = store.engine.url.database
        assert path is not None
        db = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            # Every store transaction begins IMMEDIATE, taking SQLite's write lock: if any is
            # open, this fails at once ("database is locked") instead of waiting.
            try:
                db.execute("BEGIN IMMEDIATE")
                held = 0
            except sqlite3.OperationalError:
                held = 1
            found, firing = db.execute(count).fetchone()
            if not held:
                db.execute("ROLLBACK")
        finally:
            db.close()
        return found, firing, held
    with store.engine.connect() as connection:
        found, firing = connection.execute(text(count)).one()
        held = connection.execute(
            text(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and backend_type = 'client backend' and pid <> pg_backend_pid()"
                " and xact_start is not null"
            )
        ).scalar_one()
        connection.rollback()
    return int(found), int(firing), int(held)


def test_the_runbook_is_ranked_after_the_alert_transaction_commits(
    store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    """A runbook that is a FIFO holds the suggester inside its read for as long as we like:
    while it waits there, the alert and its incident are already committed and no
    transaction is open on the store (on SQLite: its write lock is free)."""
    books = tmp_path / "runbooks"
    books.mkdir()
    os.mkfifo(books / "probe.yaml")
    config = _config(tmp_path)
    failed: list[BaseException] = []

    def alert_path() -> None:
        try:
            service.process_results(store, config, [_failing(clock)], clock=clock)
        except BaseException as exc:
            failed.append(exc)

    worker = threading.Thread(target=alert_path, daemon=True)
    worker.start()
    writer = _open_writer(books / "probe.yaml")
    try:
        while_ranking = _store_now(store)
    finally:
        os.write(writer, textwrap.dedent(PROBE).encode())
        os.close(writer)
    worker.join(timeout=60)
    assert not worker.is_alive() and not failed, failed
    assert while_ranking == (1, 1, 0)
    with store.session() as session:
        [incident] = incidents.list_incidents(session)
        events = incidents.timeline(session, incident_id=incident.id)
    assert [e.kind for e in events] == ["opened", "alert", "runbook.suggested"]
    # Ranked from what the FIFO gave after the commit: the probe runbook wins.
    assert events[2].data == {"runbook": "probe"}
    assert events[2].text.startswith("suggested runbook: opsbook runbook run probe --incident")


def test_a_named_runbook_is_written_with_the_alert(store: Store, clock: FrozenClock) -> None:
    """A runbook the check names needs no ranking: it lands in the alert's own transaction."""
    result = _failing(clock)
    result.runbook = "p0-outage"
    signal = rules.signal_from_check(result, failing=True)
    with store.session() as session:
        moved = alerts.apply_many(session, [signal], config=Config.model_validate({}), clock=clock)
        [incident] = incidents.list_incidents(session)
        events = incidents.timeline(session, incident_id=incident.id)
    assert [r.suggest for r in moved.routed] == [None]
    assert [e.kind for e in events] == ["opened", "alert", "runbook.suggested"]
