"""The seed's own SQL where it breaks, against a real server with a mixed-case table, and
what the runbooks run instead: the weekly unused-index and table-size queries, the
kill-all, the archival; and the quarter's statements from pg_stat_statements."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from opsbook.postgres import service
from opsbook.postgres.cluster import TempCluster
from opsbook.postgres.workload import ENABLE
from opsbook.runbooks.loader import BUILTIN_DIR

SEED_UNUSED = """
select schemaname, tablename, indexname, idx_scan
from pg_stat_user_indexes
where idx_scan = 0
  and indexrelname not like '%_pkey'
"""
SEED_SIZES = """
select schemaname, tablename, pg_size_pretty(pg_total_relation_size(schemaname||'.'||tablename))
from pg_tables
where schemaname = 'public'
order by pg_total_relation_size(schemaname||'.'||tablename) desc
"""
SEED_KILL_ALL = """
select pg_terminate_backend(pid)
from pg_stat_activity
where datname = 'postgres' and pid <> pg_backend_pid()
"""


def _step_sql(runbook: str, step: str) -> str:
    doc = yaml.safe_load((BUILTIN_DIR / f"{runbook}.yaml").read_text())
    return str(next(s for s in doc["steps"] if s["id"] == step)["sql"])


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(
            'create table "ScenarioAttempts" (id int primary key, "EndedAt" timestamptz, note text)'
        )
        c.execute('create index "ScenarioAttempts_EndedAt" on "ScenarioAttempts" ("EndedAt")')
        c.execute(
            """insert into "ScenarioAttempts" select g, now() - g * interval '1 day', 'x'"""
            " from generate_series(1, 800) g"
        )
        yield c


def test_the_seeds_unused_index_query_fails_and_db_indexes_finds_the_index(
    conn: psycopg.Connection[Any],
) -> None:
    with pytest.raises(psycopg.errors.UndefinedColumn, match="tablename"):
        conn.execute(SEED_UNUSED)
    unused = service.indexes(conn=conn)["unused"]
    assert [(i["table"], i["index"]) for i in unused] == [
        ("ScenarioAttempts", "ScenarioAttempts_EndedAt")
    ]


def test_the_seeds_table_size_query_fails_on_a_mixed_case_name_and_weeklys_works(
    conn: psycopg.Connection[Any],
) -> None:
    with pytest.raises(psycopg.errors.UndefinedTable, match="scenarioattempts"):
        conn.execute(SEED_SIZES)
    rows = conn.execute(_step_sql("weekly", "table_sizes")).fetchall()
    assert rows[0][1] == "ScenarioAttempts" and rows[0][3] > 0


def test_the_seeds_kill_all_misses_this_database_and_opsbooks_ends_its_sessions(
    pg_url: str, conn: psycopg.Connection[Any]
) -> None:
    other = psycopg.connect(pg_url, autocommit=True, application_name="app")
    try:
        pid = other.info.backend_pid
        conn.execute(SEED_KILL_ALL)  # datname = 'postgres': not the app's database
        assert other.execute("select 1").fetchone() == (1,)
        plan = service.plan_kill(conn=conn, pids=None, force=True)
        assert pid in [s.pid for s in plan.targets]
        assert conn.info.backend_pid not in [s.pid for s in plan.targets]
    finally:
        other.close()


def test_the_seeds_archival_leaves_duplicates_when_its_delete_fails_and_db_archive_none(
    conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    conn.execute(
        'create table "Feedback" (id int primary key, attempt int references "ScenarioAttempts")'
    )
    conn.execute('insert into "Feedback" values (1, 700)')
    conn.execute('create table "ScenarioAttempts_archive" (like "ScenarioAttempts")')
    conn.execute(
        'insert into "ScenarioAttempts_archive" select * from "ScenarioAttempts"'
        """ where "EndedAt" < now() - interval '1 year'"""
    )
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(
            """delete from "ScenarioAttempts" where "EndedAt" < now() - interval '1 year'"""
        )
    both = conn.execute(
        'select count(*) from "ScenarioAttempts" a join "ScenarioAttempts_archive" b using (id)'
    ).fetchone()
    assert both is not None and both[0] > 400  # the seed's way: every old row twice
    conn.execute('truncate "ScenarioAttempts_archive"')
    with pytest.raises(service.ArchiveError, match="referenced"):
        service.plan_archive(
            conn=conn, table="ScenarioAttempts", to="ScenarioAttempts_archive",
            column="EndedAt", older_than=dt.timedelta(days=365),
        )  # fmt: skip
    conn.execute('drop table "Feedback"')
    cutoff = conn.execute("select now() - interval '400 days'").fetchone()[0]  # type: ignore[index]
    plan = service.plan_archive(
        conn=conn, table="ScenarioAttempts", to="ScenarioAttempts_archive",
        column="EndedAt", older_than=dt.timedelta(days=1), before=cutoff,
    )  # fmt: skip
    assert plan.rows.cutoff == cutoff  # the one cutoff given, not now() - older_than
    older = conn.execute('select count(*) from "ScenarioAttempts" where "EndedAt" < %s', (cutoff,))
    [expected] = older.fetchone() or (0,)
    store = _store(tmp_path)
    from opsbook.clock import FrozenClock

    service.run_archive(conn=conn, plan=plan, store=store, actor="alice", clock=FrozenClock())
    left = conn.execute(
        'select count(*) from "ScenarioAttempts" a join "ScenarioAttempts_archive" b using (id)'
    ).fetchone()
    moved = conn.execute('select count(*), max(id) from "ScenarioAttempts_archive"').fetchone()
    assert left == (0,) and moved is not None and moved[0] == expected == plan.rows.candidates


def _store(tmp_path: Path) -> Any:
    from opsbook.store import open_store

    return open_store(f"sqlite:///{tmp_path / 'opsbook.db'}")


@pytest.fixture(scope="module")
def statements_cluster() -> Iterator[TempCluster]:
    cluster = TempCluster.start(settings={"shared_preload_libraries": "pg_stat_statements"})
    try:
        yield cluster
    finally:
        cluster.stop()


def test_the_quarters_statements_come_from_pg_stat_statements(
    statements_cluster: TempCluster,
) -> None:
    url = statements_cluster.create_database("quarter")
    with psycopg.connect(url, autocommit=True) as c:
        assert service.top_statements(conn=c).missing == ENABLE
        c.execute("create schema extensions; create extension pg_stat_statements schema extensions")
        c.execute('create table "Mixed" (id int)')
        for _ in range(5):
            c.execute('select count(*) from "Mixed" where id > %s', (1,))
        found = service.top_statements(conn=c, limit=50)
    assert found.missing is None and found.since is not None
    [mixed] = [s for s in found.statements if '"Mixed" where id' in s["query"]]
    assert mixed["calls"] == 5 and mixed["total_ms"] >= 0


def test_the_quarters_statements_show_no_password_literal(
    statements_cluster: TempCluster,
) -> None:
    """pg_stat_statements keeps a utility statement as typed, its password literal too."""
    url = statements_cluster.create_database("secrets")
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("create extension pg_stat_statements")
        c.execute("create role quarter_app login")
        try:
            c.execute("alter role quarter_app with encrypted password 'hunter2-Zq9'")
            raw = c.execute(
                "select query from pg_stat_statements where query ilike 'alter role%'"
            ).fetchall()
            found = service.top_statements(conn=c, limit=1000)
        finally:
            c.execute("drop role quarter_app")
    assert any("hunter2-Zq9" in q for (q,) in raw)  # the server keeps it as typed
    texts = [s["query"] for s in found.statements]
    assert "alter role quarter_app with encrypted password ***" in texts
    assert "hunter2-Zq9" not in json.dumps(found.statements)


def test_without_the_library_loaded_the_review_says_how_to_load_it(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("create extension pg_stat_statements")
        found = service.top_statements(conn=c)
    assert found.statements == [] and "shared_preload_libraries" in (found.missing or "")
