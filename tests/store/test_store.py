"""The state store behaves the same on SQLite and PostgreSQL (every test runs on both)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from opsbook.clock import FrozenClock
from opsbook.store import Store, audit, migrate, open_store
from opsbook.store.migrate import current_revision, head_revision, upgrade
from opsbook.store.models import AuditEntry


def test_first_use_applies_migrations(store: Store) -> None:
    assert current_revision(store.engine) == head_revision()
    assert upgrade(store.engine) == (head_revision(), head_revision())
    with store.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head_revision()


def test_the_head_read_from_file_names_is_alembics_head() -> None:
    scripts = ScriptDirectory(str(Path(migrate.__file__).parent / "migrations"))
    assert scripts.get_heads() == [head_revision()]


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'opsbook.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()


def test_audit_entry_round_trips_with_utc_time(store: Store) -> None:
    clock = FrozenClock(dt.datetime(2026, 5, 1, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    with store.session() as session:
        audit.record(
            session,
            action="db.kill",
            target="pid 4242",
            outcome="ok",
            actor="alice",
            details={"signal": "terminate", "pids": [4242]},
            clock=clock,
        )
    with store.session() as session:
        [entry] = audit.entries(session)
    assert entry.at == dt.datetime(2026, 5, 1, 1, 4, 5, tzinfo=dt.UTC)
    assert (entry.actor, entry.action, entry.target, entry.outcome) == (
        "alice",
        "db.kill",
        "pid 4242",
        "ok",
    )
    assert entry.details == {"signal": "terminate", "pids": [4242]}


def test_actor_defaults_to_the_environment(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSBOOK_ACTOR", "oncall-bob")
    with store.session() as session:
        entry = audit.record(session, action="x", target="y", outcome="ok")
    assert entry.actor == "oncall-bob"


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET outcome = 'ok'", "DELETE FROM audit_log"]
)
def test_audit_log_is_append_only(store: Store, statement: str) -> None:
    with store.session() as session:
        audit.record(session, action="restore", target="db", outcome="failed")
    with pytest.raises(DBAPIError, match="append-only"), store.session() as session:
        session.execute(text(statement))
    with store.session() as session:
        [entry] = audit.entries(session)
    assert entry.outcome == "failed"


def test_secrets_never_reach_the_audit_log(store: Store) -> None:
    with store.session() as session:
        audit.record(
            session,
            action="db.kill",
            target="postgresql://u:hunter2@db/app",
            outcome="ok",
            details={"dsn": "postgresql://u:hunter2@db/app", "nested": [{"token": "hunter2"}]},
            secrets=["hunter2"],
        )
    with store.session() as session:
        [entry] = audit.entries(session)
    assert "hunter2" not in entry.target + str(entry.details)
    assert entry.details["nested"] == [{"token": "***"}]


def test_audited_records_intent_then_outcome(store: Store) -> None:
    with audit.audited(store, action="db.terminate", target="pid 7", actor="alice") as act:
        with store.session() as session:
            [started] = audit.entries(session)
        assert started.outcome == "started"  # committed before the action runs
        act.details["terminated"] = 1
    with store.session() as session:
        done, started = audit.entries(session)
    assert (done.outcome, done.ref, done.details) == ("ok", started.ref, {"terminated": 1})


def test_audited_records_failure_and_reraises(store: Store) -> None:
    with (
        pytest.raises(RuntimeError, match="permission denied"),
        audit.audited(store, action="db.terminate", target="pid 7"),
    ):
        raise RuntimeError("permission denied")
    with store.session() as session:
        failed, started = audit.entries(session)
    assert started.outcome == "started"
    assert failed.outcome == "failed"
    assert failed.details["error"] == "RuntimeError: permission denied"


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    def write(worker: int) -> None:
        for n in range(25):
            with store.session() as session:
                audit.record(session, action="test.write", target=f"{worker}:{n}", outcome="ok")

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.session() as session:
        targets = set(session.scalars(select(AuditEntry.target)))
    assert targets == {f"{w}:{n}" for w in range(4) for n in range(25)}


def test_processes_opening_at_once_migrate_once(fresh_store_url: str) -> None:
    errors: list[BaseException] = []
    stores: list[Store] = []

    def open_one() -> None:
        try:
            stores.append(open_store(fresh_store_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with stores[0].session() as session:
        versions = session.execute(text("SELECT count(*) FROM alembic_version")).scalar()
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
    assert versions == 1
    for opened in stores:
        opened.close()


def test_migrations_build_exactly_the_models_tables(store: Store) -> None:
    """A model changed without a migration (or the reverse) fails here, not in production."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import opsbook.backups.models
    import opsbook.deploy.models
    import opsbook.incidents.models
    import opsbook.notify.models
    import opsbook.oncall.models
    import opsbook.routines.models
    import opsbook.runbooks.records
    import opsbook.status.models
    import opsbook.watch.models  # noqa: F401  (registers the tables on Base.metadata)
    from opsbook.store.models import Base

    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        differences = [
            d
            for d in compare_metadata(context, Base.metadata)
            if not (isinstance(d, tuple) and d[1] == "alembic_version")
        ]
    assert differences == []


def test_postgres_store_plans_each_batch_with_its_values(store: Store) -> None:
    """Prepared statements keep their parse, not a generic plan (30 ms per batch lookup)."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL setting")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("show plan_cache_mode").scalar() == "force_custom_plan"


def test_a_nul_from_a_peer_is_stored_not_a_failed_write(store: Store) -> None:
    # PostgreSQL text cannot hold NUL; an alert summary or command output with one must
    # still be stored (as U+FFFD there), never fail the write the sender would retry.
    from opsbook.incidents import service as incidents
    from opsbook.incidents.models import Incident

    with store.session() as session:
        opened = incidents.open_incident(
            session,
            severity="P2",
            title="db\x00down",
            actor="alertmanager",
            clock=FrozenClock(),
            symptoms=["summary \x00 with a NUL"],
        )
        incident_id = opened.id
    with store.session() as session:
        found = session.get(Incident, incident_id)
        assert found is not None
        assert found.title.replace("\x00", "\ufffd") == "db\ufffddown"
