"""The audit log's hash chain, on both stores: concurrent writers keep one chain, and
`opsbook audit verify` names the first row someone past the triggers changed or removed.

"Someone past the triggers" is real here: on PostgreSQL a superuser session with
`session_replication_role = replica` (triggers do not fire), on SQLite a connection that
drops the triggers (anyone who can write the file can).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.store import Store, audit, chain, migrate
from opsbook.store.engine import make_engine
from opsbook.store.models import AuditEntry
from opsbook.store.types import UTCDateTime
from tests.conftest import T0

runner = CliRunner()


def _write(store: Store, count: int, *, first: int = 1) -> None:
    clock = FrozenClock(T0)
    for n in range(first, first + count):
        with store.session() as session:
            audit.record(
                session,
                action="db.kill",
                target=f"pid {n}",
                outcome="ok",
                actor="alice",
                # What JSON hands back differently (a tuple) or escapes.
                details={"pids": (n, n + 1), "note": "café ✓"},
                clock=clock,
            )
            clock.advance(dt.timedelta(seconds=1, microseconds=1))


def _rows(store: Store) -> list[AuditEntry]:
    with store.session() as session:
        return list(session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)))


def _as_superuser(store_url: str, statements: list[sa.TextClause]) -> None:
    """Change the log the way someone who can get past the triggers would."""
    engine = make_engine(store_url)
    try:
        with engine.begin() as db:
            if engine.dialect.name == "sqlite":  # anyone who can write the file can do this
                db.exec_driver_sql("DROP TRIGGER audit_log_no_update")
                db.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
            else:  # a superuser's session: no ordinary trigger fires
                db.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for statement in statements:
                db.execute(statement)
    finally:
        engine.dispose()


def _resealed(rows: list[AuditEntry], *, outcome_of_first: str) -> list[sa.TextClause]:
    """UPDATEs that change the first row and re-seal it and every row after it."""
    reseal = sa.text(
        "UPDATE audit_log SET outcome = :outcome, prev_hash = :prev_hash, hash = :hash"
        " WHERE id = :id"
    )
    prev_hash, statements = chain.GENESIS, []
    for n, row in enumerate(rows):
        if n == 0:
            row.outcome = outcome_of_first  # detached: changes only this Python object
        row.prev_hash, row.hash = prev_hash, chain.seal(prev_hash, row)
        statements.append(
            reseal.bindparams(
                outcome=row.outcome, prev_hash=row.prev_hash, hash=row.hash, id=row.id
            )
        )
        prev_hash = row.hash
    return statements


def _verify(config_file: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["--config", str(config_file), "audit", "verify", *args])
    return result.exit_code, result.output


def _verify_json(config_file: Path, *args: str) -> tuple[int, dict[str, Any]]:
    code, output = _verify(config_file, "--json", *args)
    return code, json.loads(output)


def test_an_untouched_log_verifies(store: Store, config_file: Path) -> None:
    _write(store, 3)
    code, output = _verify(config_file)
    assert code == 0, output
    head = _rows(store)[-1]
    assert "3 rows, chain intact" in output
    assert f"head: id {head.id}, hash {head.hash}" in output
    code, data = _verify_json(config_file)
    assert (code, data["intact"], data["rows"], data["first_bad"]) == (0, True, 3, None)
    assert data["head"] == {"id": head.id, "seq": 3, "hash": head.hash}


def test_an_empty_log_verifies(store: Store, config_file: Path) -> None:
    code, output = _verify(config_file)
    assert (code, output.strip()) == (0, "0 rows, chain intact (the audit log is empty)")


def test_concurrent_writers_keep_one_chain(store: Store) -> None:
    """Writers in threads, each on its own connection, append at the same moment; the
    chain's lock makes them take turns, so no two rows claim the same predecessor."""
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        start.wait()
        try:
            for n in range(25):
                with store.session() as session:
                    audit.record(session, action="test.write", target=f"{worker}:{n}", outcome="ok")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    verdict = chain.verify(store, batch=7)  # several batches, one ending mid-walk
    assert (verdict.intact, verdict.rows) == (True, 100)
    assert [row.seq for row in _rows(store)] == list(range(1, 101))


# Rows 1-4 are written first; each change is made past the triggers.
Tamper = Callable[[list[AuditEntry]], list[sa.TextClause]]
TAMPERING: dict[str, tuple[Tamper, int, str, str]] = {
    "a field edited": (
        lambda rows: [sa.text("UPDATE audit_log SET outcome = 'failed' WHERE seq = 2")],
        2,
        "content changed",
        "edited since",
    ),
    "a row deleted": (
        lambda rows: [sa.text("DELETE FROM audit_log WHERE seq = 2")],
        3,
        "row missing",
        "chain position 2 is gone",
    ),
    "the first rows deleted": (
        lambda rows: [sa.text("DELETE FROM audit_log WHERE seq <= 2")],
        3,
        "row missing",
        "chain positions 1-2 are gone (deleted between the start of the log",
    ),
    "a deleted row's gap closed up": (
        lambda rows: [
            sa.text("DELETE FROM audit_log WHERE seq = 2"),
            sa.text("UPDATE audit_log SET seq = seq - 1 WHERE seq > 2"),
        ],
        3,
        "chain broken",
        "follows a row hashed",
    ),
    "a row edited and re-sealed": (
        lambda rows: _resealed(rows, outcome_of_first="failed")[:1],
        2,
        "chain broken",
        "rewritten and re-sealed",
    ),
}


@pytest.mark.parametrize("change", TAMPERING.values(), ids=TAMPERING.keys())
def test_verify_names_the_first_bad_row(
    store: Store,
    store_url: str,
    config_file: Path,
    change: tuple[Tamper, int, str, str],
) -> None:
    statements, bad_seq, problem, detail = change
    _write(store, 4)
    rows = _rows(store)
    bad = bad_seq - 1
    _as_superuser(store_url, statements(rows))
    code, output = _verify(config_file)
    assert code == 1, output
    assert f"audit log tampered: row id {rows[bad].id} (chain position" in output
    assert f"{problem}: " in output and detail in output
    code, data = _verify_json(config_file)
    assert (code, data["intact"]) == (1, False)
    assert (data["first_bad"]["id"], data["first_bad"]["problem"]) == (rows[bad].id, problem)


def test_an_anchor_catches_a_log_re_sealed_from_the_start(
    store: Store, store_url: str, config_file: Path
) -> None:
    """The chain has no secret: re-sealing every row passes a plain verify. A head hash
    kept outside the database is what shows the rewrite."""
    _write(store, 3)
    anchor = _verify_json(config_file)[1]["head"]["hash"]
    _as_superuser(store_url, _resealed(_rows(store), outcome_of_first="failed"))
    assert _verify(config_file)[0] == 0
    code, output = _verify(config_file, "--anchor", anchor)
    assert code == 1, output
    assert f"anchor {anchor} is not in the chain" in output


def test_an_anchor_catches_rows_cut_from_the_end(
    store: Store, store_url: str, config_file: Path
) -> None:
    _write(store, 3)
    anchor = _verify_json(config_file)[1]["head"]["hash"]
    _write(store, 1, first=4)
    code, output = _verify(config_file, "--anchor", anchor.upper())
    assert code == 0, output
    assert "nothing up to it was rewritten" in output
    _as_superuser(store_url, [sa.text("DELETE FROM audit_log WHERE seq >= 3")])
    code, data = _verify_json(config_file, "--anchor", anchor)
    assert (code, data["rows"], data["first_bad"], data["anchor"]["found"]) == (1, 2, None, False)


@pytest.mark.parametrize("anchor", ["abc", "z" * 64, ""])
def test_an_anchor_that_is_not_a_hash_is_bad_input(config_file: Path, anchor: str) -> None:
    code, output = _verify(config_file, "--anchor", anchor)
    assert code == 2
    assert "is not a hash `opsbook audit verify` prints (64 hex digits)" in output


def _migrate(engine: sa.Engine, revision: str, *, down: bool = False) -> None:
    with engine.connect() as connection:
        # migrate.upgrade only goes to head; a test of one migration needs to stop short.
        config = migrate._alembic_config(connection)
        (command.downgrade if down else command.upgrade)(config, revision)
        connection.commit()


def test_rows_written_before_the_chain_are_sealed_in_id_order(fresh_store_url: str) -> None:
    engine = make_engine(fresh_store_url)
    store = Store(engine)
    try:
        _migrate(engine, "0006")
        # Ids with gaps and times running backwards: the chain follows ids, the order of
        # writing. More rows than the migration seals per batch.
        ids = list(range(5, 5 + 3 * 1100, 3))
        _write_before_the_chain(engine, ids)
        _migrate(engine, "head")
        assert [(row.id, row.seq) for row in _rows(store)] == list(
            zip(ids, range(1, 1101), strict=True)
        )
        _write(store, 1)
        verdict = chain.verify(store)
        assert (verdict.intact, verdict.rows) == (True, 1101)

        _migrate(engine, "0006", down=True)
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as db:
            db.execute(sa.text("UPDATE audit_log SET outcome = 'x'"))
        _migrate(engine, "head")
        verdict = chain.verify(store)
        assert (verdict.intact, verdict.rows) == (True, 1101)
    finally:
        store.close()


def _write_before_the_chain(engine: sa.Engine, ids: list[int]) -> None:
    """Audit rows as revision 0006 wrote them: no seq, no hashes."""
    old_log = sa.table(
        "audit_log",
        *(sa.column(name, sa.String) for name in ("actor", "action", "target", "outcome")),
        sa.column("id", sa.Integer),
        sa.column("at", UTCDateTime),
        sa.column("details", sa.JSON),
    )
    rows = [
        {
            "id": row_id,
            "at": T0 - dt.timedelta(minutes=n),
            "actor": "bob",
            "action": "db.kill",
            "target": f"pid {row_id}",
            "outcome": "ok",
            "details": {"pids": [row_id]},
        }
        for n, row_id in enumerate(ids)
    ]
    with engine.begin() as db:
        db.execute(sa.insert(old_log), rows)
