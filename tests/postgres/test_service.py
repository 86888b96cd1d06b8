"""The database-care operations called directly, as any door calls them, on a real server:
each plan changes nothing, each act does what its plan said and audits it once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from opsbook.clock import FrozenClock
from opsbook.incidents import service as incidents
from opsbook.postgres import service
from opsbook.postgres.archive import ArchiveError
from opsbook.postgres.errors import Unreachable
from opsbook.postgres.migrations import MigrationFailed
from opsbook.postgres.views import ViewError
from opsbook.store import Store, open_store
from opsbook.store.audit import entries
from tests.conftest import T0, wait_for
from tests.postgres.conftest import Sessions

YEAR = dt.timedelta(days=365)


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[Store]:
    """opsbook's own store (SQLite), where the operations write the audit log."""
    opened = open_store(f"sqlite:///{tmp_path / 'opsbook.db'}")
    yield opened
    opened.close()


def _who(store: Store, clock: FrozenClock) -> service.Who:
    return {"store": store, "actor": "alice", "clock": clock}


def _audit(store: Store, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(outcome, target, details) of the audit log's entries for `action`, oldest first."""
    with store.session() as session:
        found = entries(session, limit=100, action=action)
    return [(e.outcome, e.target, e.details) for e in reversed(found)]


def _count(url: str, query: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


OLD = "select count(*) from scenario_attempts where ended_at < now() - interval '365 days'"


# --- archival --------------------------------------------------------------------------------


def test_archive_plan_changes_nothing_then_run_moves_every_old_row_once(
    sandbox_db: str, audit: Store, clock: FrozenClock
) -> None:
    old = _count(sandbox_db, OLD)
    with service.connect(sandbox_db) as conn:
        plan = service.plan_archive(
            conn=conn,
            table="scenario_attempts",
            to="scenario_attempts_archive",
            column="ended_at",
            older_than=YEAR,
            with_referencing=True,
            batch=250,
            lock_timeout=dt.timedelta(milliseconds=500),
        )
        assert (plan.rows.candidates, plan.batches) == (old, -(-old // 250))
        assert _audit(audit, "db.archive") == []
        assert _count(sandbox_db, "select count(*) from scenario_attempts_archive") == 0
        assert not plan.rows.create_archive  # the app's schema has it; the feedback's does not

        batches: list[int] = []
        done = service.run_archive(
            conn=conn, plan=plan, progress=batches.append, **_who(audit, clock)
        )

    assert done.moved == old == sum(batches) > 0 and done.batches == len(batches)
    assert max(batches) <= 250  # the batch size bounds every statement, swept or not
    assert done.created == ["public.attempt_feedback_archive"]
    assert _count(sandbox_db, OLD) == 0
    assert _count(sandbox_db, "select count(*) from scenario_attempts_archive") == old
    [(started, target, _), (outcome, _, details)] = _audit(audit, "db.archive")
    assert (started, outcome) == ("started", "ok")
    assert target == "public.scenario_attempts -> public.scenario_attempts_archive"
    assert details == {
        **plan.summary(),
        "moved": old,
        "batches": done.batches,
        "created": done.created,
    }
    assert details["lock_timeout_seconds"] == 0.5 and details["vacuum"] == "analyze"


def test_archive_refusals_speak_of_the_tables_not_of_flags(sandbox_db: str) -> None:
    asked: dict[str, Any] = {
        "table": "scenario_attempts",
        "to": "scenario_attempts_archive",
        "column": "ended_at",
        "older_than": YEAR,
    }
    with service.connect(sandbox_db) as conn:
        for changed, said in (
            ({}, "moving them would break those references. Archive the referencing rows"),
            ({"to": "x.y.z"}, "the archive table 'x.y.z' is not a table name"),
            ({"to": "scenario_attempts"}, "the table and the archive table name the same table"),
            ({"batch": 0}, "the batch size must be at least 1"),
        ):
            with pytest.raises(ArchiveError) as refused:
                service.plan_archive(conn=conn, **{**asked, **changed})
            assert said in str(refused.value) and "--" not in str(refused.value)
        with pytest.raises(ArchiveError) as refused:
            service.plan_archive(conn=conn, **asked)
    # A door says the input its own way: the CLI as the flag its user typed.
    flags = {
        "with_referencing": "Pass --with-referencing to archive the referencing rows with them"
    }
    assert "references. Pass --with-referencing to archive" in refused.value.text(flags)
    assert _count(sandbox_db, "select to_regclass('attempt_feedback_archive') is null") == 1


# --- ending sessions -------------------------------------------------------------------------


def test_terminate_idle_ends_the_idle_and_spares_protected_sessions(
    pg_url: str, sessions: Sessions, app_role: str, audit: Store, clock: FrozenClock
) -> None:
    leaked = [sessions.open(role=app_role) for _ in range(2)]
    admin = sessions.open(application="psql")  # superuser-owned
    mine = sessions.open(role=app_role, application="opsbook-watch")  # says it is opsbook's
    for conn in (*leaked, admin, mine):
        conn.execute("select 1")
    leaked_pids = sorted(sessions.pid(c) for c in leaked)
    with audit.session() as session:
        incident = incidents.open_incident(
            session, title="Too many connections", severity="P1", actor="alice", clock=clock
        )
        incident_id = incident.id

    with service.connect(pg_url) as conn:
        plan = service.plan_terminate_idle(conn=conn, older_than=dt.timedelta(0))
        assert sorted(s.pid for s in plan.targets) == leaked_pids
        kept = {p.session.pid: str(p.reason) for p in plan.protected}
        assert kept == {
            sessions.pid(admin): "owned by superuser postgres (only when forced)",
            sessions.pid(mine): "an opsbook connection",
        }
        forced = service.plan_terminate_idle(conn=conn, older_than=dt.timedelta(0), force=True)
        assert sessions.pid(admin) in {s.pid for s in forced.targets}
        assert all(sessions.state(p) == "idle" for p in leaked_pids)  # planning ended nothing

        ended = service.end_sessions(
            conn=conn, plan=plan, incident_id=incident_id, **_who(audit, clock)
        )

    assert sorted(ended.pids) == leaked_pids
    for pid in leaked_pids:
        sessions.wait_state(pid, None)
    assert sessions.state(sessions.pid(admin)) == sessions.state(sessions.pid(mine)) == "idle"
    logged = _audit(audit, "db.terminate")
    assert sorted(outcome for outcome, _, _ in logged) == ["ok", "ok", "started", "started"]
    with audit.session() as session:
        timeline = incidents.timeline(session, incident_id=incident_id)
        assert timeline[-1].text == "terminated 2 session(s): " + ", ".join(
            str(p) for p in ended.pids
        )


def test_idle_in_transaction_is_its_own_request(
    pg_url: str, sessions: Sessions, app_role: str
) -> None:
    holding = sessions.open(role=app_role, autocommit=False)
    holding.execute("select 1")  # opens a transaction and leaves it open
    sessions.open(role=app_role).execute("select 1")
    with service.connect(pg_url) as conn:
        plan = service.plan_terminate_idle(
            conn=conn, older_than=dt.timedelta(0), in_transaction=True
        )
        later = service.plan_terminate_idle(conn=conn, older_than=dt.timedelta(minutes=10))
    assert [(s.pid, s.state) for s in plan.targets] == [
        (sessions.pid(holding), "idle in transaction")
    ]
    assert later.targets == []


def test_kill_with_a_missing_pid_is_refused_before_anything_ends(
    pg_url: str, sessions: Sessions, app_role: str, audit: Store
) -> None:
    live = sessions.open(role=app_role)
    live.execute("select 1")
    pid = sessions.pid(live)
    with service.connect(pg_url) as conn, pytest.raises(service.MissingSessions) as refused:
        service.plan_kill(conn=conn, pids=[pid, 999999])
    assert str(refused.value) == (
        "no client session with pid 999999 (system and replication backends are never ended)"
    )
    assert sessions.state(pid) == "idle"
    assert _audit(audit, "db.terminate") == []


def test_an_unknown_incident_refuses_before_any_session_ends(
    pg_url: str, sessions: Sessions, app_role: str, audit: Store, clock: FrozenClock
) -> None:
    live = sessions.open(role=app_role)
    live.execute("select 1")
    with service.connect(pg_url) as conn:
        plan = service.plan_kill(conn=conn, pids=[sessions.pid(live)])
        with pytest.raises(service.UnknownIncident, match="no incident #42"):
            service.end_sessions(conn=conn, plan=plan, incident_id=42, **_who(audit, clock))
    assert sessions.state(sessions.pid(live)) == "idle"
    assert _audit(audit, "db.terminate") == []


def test_kill_cancel_ends_the_query_and_keeps_the_session(
    pg_url: str, sessions: Sessions, app_role: str, audit: Store, clock: FrozenClock
) -> None:
    runaway = sessions.open(role=app_role)
    pid = sessions.pid(runaway)
    sessions.in_background(runaway, "select pg_sleep(600)")
    sessions.wait_state(pid, "active")
    with service.connect(pg_url) as conn:
        [slow] = service.slow_queries(conn=conn, min_duration=dt.timedelta(0))
        assert slow.pid == pid and "pg_sleep" in (slow.query or "")
        plan = service.plan_kill(conn=conn, pids=[pid], cancel=True)
        assert plan.verb == "cancel the query of"
        ended = service.end_sessions(conn=conn, plan=plan, **_who(audit, clock))
    assert ended.pids == [pid] and ended.cancel
    sessions.wait_state(pid, "idle")
    assert [outcome for outcome, _, _ in _audit(audit, "db.cancel")] == ["started", "ok"]


def test_blocked_queries_are_a_typed_tree_root_first(
    pg_url: str, sessions: Sessions, app_role: str
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as setup:
        setup.execute("create table orders (id int); grant all on orders to app_user")
    holder = sessions.open(role=app_role, autocommit=False)
    holder.execute("lock table orders in access exclusive mode")
    waiter = sessions.open(role=app_role)
    sessions.in_background(waiter, "select count(*) from orders")
    sessions.wait_state(sessions.pid(waiter), "active")
    with service.connect(pg_url) as conn:
        # The waiter is active a moment before it waits on the lock.
        wait_for(lambda: len(service.blocked_queries(conn=conn)) == 2)
        root, blocked = service.blocked_queries(conn=conn)
    assert (root.pid, root.state, root.held) == (
        sessions.pid(holder),
        "idle in transaction",
        "AccessExclusiveLock on orders",
    )
    assert (blocked.pid, blocked.blocked_by, blocked.waits_for) == (
        sessions.pid(waiter),
        [sessions.pid(holder)],
        "AccessShareLock on orders",
    )
    holder.rollback()


def test_connect_refuses_an_unreachable_database_with_the_password_masked() -> None:
    with pytest.raises(Unreachable) as refused:
        service.connect("postgresql://nobody:hunter22@127.0.0.1:9/x")
    assert str(refused.value).startswith("cannot connect to the target database")
    assert "hunter22" not in str(refused.value)


# --- materialized views ----------------------------------------------------------------------


def test_refresh_views_then_list_shows_when_opsbook_refreshed_them(
    sandbox_db: str, audit: Store, clock: FrozenClock
) -> None:
    with service.connect(sandbox_db) as conn:
        listed = {v.name: v for v in service.list_views(conn=conn, store=audit)}
        assert listed["reporting_org_daily"].concurrently
        assert not listed["reporting_scenario_stats"].concurrently
        assert all(v.last_refresh is None for v in listed.values())
        plan = service.plan_refresh(conn=conn)
        assert {v.name for v in plan.views} == set(listed)

        done = service.refresh_views(conn=conn, plan=plan, **_who(audit, clock))
        relisted = service.list_views(conn=conn, store=audit)

    how = {r.view: (r.concurrently, r.why_not) for r in done.refreshed}
    assert how["public.reporting_org_daily"] == (True, None)
    assert "no unique index" in (how["public.reporting_scenario_stats"][1] or "")
    assert {v.last_refresh for v in relisted} == {T0}  # the audit log's time, by our clock
    logged = {target: details for outcome, target, details in _audit(audit, "db.view.refresh")}
    assert logged["public.reporting_scenario_stats"] == {"concurrently": False}


def test_refresh_by_function_and_refusals(
    sandbox_db: str, audit: Store, clock: FrozenClock
) -> None:
    with service.connect(sandbox_db) as conn:
        plan = service.plan_refresh(conn=conn, function="refresh_reporting_views")
        done = service.refresh_views(conn=conn, plan=plan, **_who(audit, clock))
        assert done.function == "refresh_reporting_views" and done.refreshed == []
        for asked, said in (
            ({"names": ["reporting_org_daily", "nope"]}, "no materialized view 'nope'"),
            ({"function": "refresh_everything"}, "no function public.refresh_everything()"),
            ({"names": ["x"], "function": "f"}, "name views or a function, not both"),
        ):
            with pytest.raises(ViewError, match=said.replace("(", r"\(").replace(")", r"\)")):
                service.plan_refresh(conn=conn, **asked)
    assert [o for o, _, _ in _audit(audit, "db.view.refresh")] == ["started", "ok"]


# --- migrations ------------------------------------------------------------------------------


def test_migrations_refuse_without_a_backup_only_when_some_are_pending(
    pg_url: str, tmp_path: Path, audit: Store, clock: FrozenClock
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20250101000000_init.sql").write_text("create table notes (id int);\n")
    with service.connect(pg_url) as conn:
        with pytest.raises(service.BackupRequired) as refused:
            service.plan_migrations(conn=conn, directory=folder)
        assert str(refused.value) == (
            "no verified backup in the last 24 h: opsbook backup create &&"
            " opsbook backup verify ID, or go ahead without one"
        )
        assert refused.value.text({"without_backup": "pass --no-backup"}).endswith(
            "opsbook backup verify ID, or pass --no-backup"
        )
        plan = service.plan_migrations(conn=conn, directory=folder, without_backup=True)
        done = service.apply_migrations(conn=conn, plan=plan, **_who(audit, clock))
        assert done.applied == ["20250101000000_init"]
        # Nothing pending: nothing to back up for, nothing refused.
        assert service.plan_migrations(conn=conn, directory=folder).pending == []

        (folder / "20250201000000_more.sql").write_text("create table more (id int);\n")
        (folder / "20250301000000_broken.sql").write_text("insert into nowhere values (1);\n")
        plan = service.plan_migrations(conn=conn, directory=folder, without_backup=True)
        with pytest.raises(MigrationFailed) as failed:
            service.apply_migrations(conn=conn, plan=plan, **_who(audit, clock))
        assert failed.value.applied == ["20250201000000_more"]
        status = service.migration_status(conn=conn, directory=folder)
    assert [a.label for a in status.applied] == ["20250101000000_init", "20250201000000_more"]
    assert [m.label for m in status.pending] == ["20250301000000_broken"]
    logged = _audit(audit, "db.migrate")
    assert [(o, t) for o, t, _ in logged][-2:] == [
        ("started", "20250301000000_broken"),
        ("failed", "20250301000000_broken"),
    ]
    assert logged[1][2] == {"statements": 1}
