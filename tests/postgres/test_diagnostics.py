"""Diagnostics find the conditions the tests create on a real server."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.conftest import wait_for
from tests.postgres.conftest import Db, Sessions


def _findings(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {f["check"]: (f["state"], f["value"]) for f in report["findings"]}


def test_status_reads_the_server(db: Db, sessions: Sessions, app_role: str) -> None:
    holding = sessions.open(role=app_role, autocommit=False)
    holding.execute("select 1")
    report = db.json("status")
    assert report["server"]["version"].startswith(("15", "16", "17"))
    assert report["connections"]["idle_in_transaction"] == 1
    found = _findings(report)
    assert found["connections"][0] == "ok"
    assert found["active"] == ("ok", str(report["connections"]["active"]))
    assert found["idle in transaction"] == ("warn", "1")
    assert found["statement_timeout"] == ("warn", "unset")
    assert found["replication lag"] == ("info", "no replicas")
    assert found["blocked queries"] == ("ok", "none")
    assert found["xid wraparound"][0] == "ok"
    assert found["database size"][0] == "info"


def test_status_blocked_query_names_its_blocker(db: Db, sessions: Sessions, app_role: str) -> None:
    with psycopg.connect(sessions.url, autocommit=True) as setup:
        setup.execute("create table orders (id int); grant all on orders to app_user")
    holder = sessions.open(role=app_role, autocommit=False)
    holder.execute("lock table orders in access exclusive mode")
    waiter = sessions.open(role=app_role)
    sessions.in_background(waiter, "select count(*) from orders")
    sessions.wait_state(sessions.pid(waiter), "active")
    wait_for(lambda: len(db.json("blocked")) == 2)
    root, blocked = db.json("blocked")
    assert (root["pid"], root["state"], root["depth"]) == (
        sessions.pid(holder),
        "idle in transaction",
        0,
    )
    assert (blocked["pid"], blocked["blocked_by"], blocked["depth"]) == (
        sessions.pid(waiter),
        [sessions.pid(holder)],
        1,
    )
    state, value = _findings(db.json("status"))["blocked queries"]
    assert state == "warn" and value.startswith("1 waiting")
    holder.rollback()


def test_thresholds_come_from_the_config(db: Db, sessions: Sessions, app_role: str) -> None:
    text = db.config.read_text() + (
        "alerts:\n  rules:\n"
        "    - {name: conns, metric: db_connections_used, warn: 0.1%, crit: 0.5%}\n"
        "    - {name: disk, metric: db_disk_used, warn: 1%, crit: 2%}\n"
        "  window: 5m\n"
    ).replace("  window: 5m\n", "")
    db.config.write_text(text.replace("database:\n", "database:\n  disk_quota: 10MB\n"))
    report = db.json("status", code=1)  # something critical: exit 1
    found = _findings(report)
    assert found["connections"][0] == "crit"
    state, value = found["database size"]
    assert state == "crit" and value.endswith("%)") and "of 9.5 MB" in value


def test_connections_by_user_and_application(db: Db, sessions: Sessions, app_role: str) -> None:
    for _ in range(2):
        sessions.open(role=app_role, application="web").execute("select 1")
    by_user = {r["key"]: r["connections"] for r in db.json("connections", "--by", "user")}
    assert by_user["app_user"] == 2
    by_app = {r["key"]: r for r in db.json("connections", "--by", "application")}
    assert by_app["web"]["idle"] == 2


def test_indexes_unused_duplicate_invalid(db: Db, pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("create table t (id int primary key, a int, b int, email text)")
        conn.execute("create index t_a on t (a)")
        conn.execute("create index t_a_b on t (a, b)")
        conn.execute("insert into t select g, g % 10, g, 'same' from generate_series(1, 100) g")
        # A failed concurrent build leaves t_email behind, invalid: what --invalid must find.
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("create unique index concurrently t_email on t (email)")
    found = db.json("indexes", code=1)
    assert {r["index"] for r in found["unused"]} == {"t_a", "t_a_b"}  # pkey and unique excluded
    assert [(r["index"], r["covered_by"]) for r in found["duplicate"]] == [("t_a", "t_a_b")]
    assert [r["index"] for r in found["invalid"]] == ["t_email"]
    only = db.json("indexes", "--invalid", code=1)
    assert list(only) == ["invalid"]


def test_sizes_include_materialized_views(db: Db, sandbox_db: str) -> None:
    sizes = db.json("--database-url", sandbox_db, "sizes", "--limit", "50")
    kinds = {r["name"]: r["kind"] for r in sizes["relations"]}
    assert kinds["scenario_attempts"] == "table"
    assert kinds["reporting_org_daily"] == "materialized view"
    only_tables = db.json("--database-url", sandbox_db, "sizes", "--tables", "--limit", "50")
    assert {r["kind"] for r in only_tables["relations"]} == {"table"}
    attempts = next(r for r in sizes["relations"] if r["name"] == "scenario_attempts")
    assert attempts["index_bytes"] > 0 and attempts["total_bytes"] >= attempts["table_bytes"]


def test_sequences_near_exhaustion(db: Db, pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("create sequence tickets maxvalue 100")
        conn.execute("select setval('tickets', 90)")
    found = db.json("sequences", code=1)
    assert (found[0]["sequence"], round(found[0]["used"], 2)) == ("tickets", 0.9)


def test_unreachable_database_says_so(db: Db) -> None:
    result = db.run("--database-url", "postgresql://nobody:hunter22@127.0.0.1:9/x", "status")
    assert result.exit_code == 1
    assert "cannot connect to the target database" in result.output
    assert "hunter22" not in result.output
