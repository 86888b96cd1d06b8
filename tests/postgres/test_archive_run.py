"""The archive's two passes on a real server: the physical sweep and the oldest-first rest.

Rows the app holds locked are skipped by the sweep and waited for afterwards; a foreign
key is followed by the columns it points at; a partitioned table, which has no single
page order, is archived oldest first. The clock's sleep is injected: nothing waits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest

from opsbook.postgres import archive, archive_run
from opsbook.postgres.queries import connect

YEAR = dt.timedelta(days=365)
STATE = """
select (select count(*) from scenario_attempts) + (select count(*) from scenario_attempts_archive),
       (select coalesce(sum(hashtext(t::text)::bigint), 0) from (
           select * from scenario_attempts union all select * from scenario_attempts_archive) t),
       (select count(*) from scenario_attempts a join scenario_attempts_archive b using (id)),
       (select count(*) from scenario_attempts where ended_at < now() - interval '365 days')
"""


def _state(url: str) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(STATE).fetchone()
    assert row is not None
    return tuple(row)


def _plan(conn: psycopg.Connection[Any], table: str, to: str, column: str) -> archive.ArchivePlan:
    plan = archive.prepare(
        conn, table=table, to=to, column=column, older_than=YEAR, with_referencing=True
    )
    archive.create_archives(conn, plan)
    return plan


def _lock_old_rows(url: str, n: int) -> tuple[psycopg.Connection[Any], list[int]]:
    """The app, holding `n` old rows locked in an open transaction."""
    app = psycopg.connect(url, application_name="app")
    ids = [
        r[0]
        for r in app.execute(
            "select id from scenario_attempts where ended_at < now() - interval '365 days'"
            " order by id limit %s for update",
            (n,),
        )
    ]
    return app, ids


def test_the_sweep_skips_rows_the_app_holds_then_takes_them_once_released(
    sandbox_db: str,
) -> None:
    count, checksum, _, old = _state(sandbox_db)
    app, held = _lock_old_rows(sandbox_db, 5)
    waits: list[float] = []

    def release(seconds: float) -> None:
        waits.append(seconds)
        app.commit()

    with connect(sandbox_db) as conn:
        plan = _plan(conn, "scenario_attempts", "scenario_attempts_archive", "ended_at")
        assert plan.sweep_oid is not None  # a plain table on PostgreSQL 15: swept
        batches: list[int] = []
        done = archive_run.run(
            conn,
            plan,
            pacing=archive_run.Pacing(batch=100, wait_step=0.25),
            sleep=release,
            progress=batches.append,
        )
    app.close()
    assert waits == [0.25]  # once, when nothing but the held rows was left
    assert done.moved == sum(batches) == old > 0 and max(batches) <= 100
    assert batches[-1] == len(held)  # the held rows moved last, in a batch of their own
    assert _state(sandbox_db) == (count, checksum, 0, 0)


def test_rows_held_for_good_stop_the_run_with_the_rest_archived(sandbox_db: str) -> None:
    count, checksum, _, old = _state(sandbox_db)
    app, held = _lock_old_rows(sandbox_db, 3)
    waits: list[float] = []
    try:
        with connect(sandbox_db) as conn:
            plan = _plan(conn, "scenario_attempts", "scenario_attempts_archive", "ended_at")
            pacing = archive_run.Pacing(batch=500, max_empty_rounds=2)
            with pytest.raises(archive.StillLocked, match=f"moved {old - 3:,} rows"):
                archive_run.run(conn, plan, pacing=pacing, sleep=waits.append)
    finally:
        app.rollback()
        app.close()
    assert waits == [1.0, 1.0]
    assert _state(sandbox_db) == (count, checksum, 0, 3)
    with psycopg.connect(sandbox_db) as conn:
        left = [
            r[0]
            for r in conn.execute(
                "select id from scenario_attempts where ended_at < now() - interval '365 days'"
            )
        ]
    assert sorted(left) == sorted(held)


def _never(_: float) -> None:
    raise AssertionError("the archive waited although no row was locked")


def _make(url: str, statements: list[str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(query)]


def test_a_foreign_key_to_another_unique_column_takes_exactly_its_own_rows(
    sandbox_db: str,
) -> None:
    # Child rows point at the parent's `code`, not at its primary key: matching them by
    # id would archive the wrong children (or none) and break the references.
    _make(
        sandbox_db,
        [
            "create table parcels (id bigint primary key, code text unique not null,"
            " sent_at timestamptz not null)",
            "create table scans (id bigint primary key, parcel_code text references parcels (code),"
            " note text)",
            "insert into parcels select i, 'P' || (1000 - i),"
            " now() + interval '1 hour' - (i || ' days')::interval from generate_series(1, 900) i",
            "insert into scans select i, 'P' || (1000 - i), 'scan' from generate_series(1, 900) i",
        ],
    )
    with connect(sandbox_db) as conn:
        plan = _plan(conn, "parcels", "parcels_archive", "sent_at")
        assert [(r.columns, r.referenced) for r in plan.referencing] == [
            (["parcel_code"], ["code"])
        ]
        done = archive_run.run(conn, plan, pacing=archive_run.Pacing(batch=64), sleep=_never)
    old = 900 - 365  # sent 366..900 days ago
    assert done.moved == old
    assert _rows(sandbox_db, "select min(id), count(*) from parcels_archive") == [(366, old)]
    assert _rows(sandbox_db, "select min(id), count(*) from scans_archive") == [(366, old)]
    assert _rows(sandbox_db, "select max(id), count(*) from scans") == [(365, 365)]
    orphans = "select count(*) from scans s left join parcels p on p.code = s.parcel_code"
    assert _rows(sandbox_db, orphans + " where p.id is null") == [(0,)]


def test_a_partitioned_table_is_archived_oldest_first(sandbox_db: str) -> None:
    _make(
        sandbox_db,
        [
            "create table events (id bigint, at timestamptz not null, body text,"
            " primary key (id, at)) partition by range (at)",
            "create table events_old partition of events for values from (minvalue)"
            " to ('2026-01-01')",
            "create table events_new partition of events for values from ('2026-01-01')"
            " to (maxvalue)",
            "insert into events select i, now() + interval '1 hour' - (i || ' days')::interval,"
            " 'e'"
            " from generate_series(1, 800) i",
        ],
    )
    seen: list[int] = []
    with connect(sandbox_db) as conn:
        plan = _plan(conn, "events", "events_archive", "at")
        assert plan.sweep_oid is None
        done = archive_run.run(
            conn, plan, pacing=archive_run.Pacing(batch=100), sleep=_never, progress=seen.append
        )
    assert done.moved == 800 - 365 == sum(seen) and max(seen) <= 100
    assert _rows(sandbox_db, "select min(id), max(id) from events_archive") == [(366, 800)]
    assert _rows(
        sandbox_db, "select count(*) from events where at < now() - interval '365 days'"
    ) == [(0,)]


def test_a_lock_never_granted_stops_the_run_instead_of_retrying_forever(
    sandbox_db: str,
) -> None:
    """The app holds a table the batch must write (the referencing attempt_feedback) in a
    transaction it never ends: every batch times out on its lock. The run gives up after
    `max_empty_rounds` refusals in a row, as it does for rows held for good."""
    count, checksum, _, old = _state(sandbox_db)
    app = psycopg.connect(sandbox_db, application_name="app")
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        assert len(waits) < 200, "the archive kept retrying a lock that is never granted"

    try:
        with connect(sandbox_db) as conn:
            plan = _plan(conn, "scenario_attempts", "scenario_attempts_archive", "ended_at")
            app.execute("lock table attempt_feedback in access exclusive mode")
            pacing = archive_run.Pacing(
                batch=100, lock_timeout=dt.timedelta(milliseconds=20), max_empty_rounds=3
            )
            with pytest.raises(archive.StillLocked, match="moved 0 rows; a lock was not granted"):
                archive_run.run(conn, plan, pacing=pacing, sleep=wait)
    finally:
        app.rollback()
        app.close()
    assert waits == [1.0] * 4  # a back-off after each refusal, the last one ends the run
    assert _state(sandbox_db) == (count, checksum, 0, old)  # nothing half-moved
