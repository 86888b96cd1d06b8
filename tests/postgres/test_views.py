from __future__ import annotations

import psycopg

from tests.postgres.conftest import Db


def test_views_list_and_refresh(db: Db, sandbox_db: str) -> None:
    listed = {v["name"]: v for v in db.json("--database-url", sandbox_db, "views")}
    assert listed["reporting_org_daily"]["concurrently"] is True
    assert listed["reporting_scenario_stats"]["concurrently"] is False
    assert listed["reporting_org_daily"]["last_refresh"] is None
    with psycopg.connect(sandbox_db, autocommit=True) as conn:
        conn.execute(
            "insert into scenario_attempts (org_id, user_id, scenario_id, started_at)"
            " select org_id, id, (select min(id) from scenarios), now() from users"
            " limit 1"
        )
    done = {r["view"]: r for r in db.json("--database-url", sandbox_db, "views", "refresh")}
    assert done["public.reporting_org_daily"]["concurrently"] is True
    stats = done["public.reporting_scenario_stats"]
    assert stats["concurrently"] is False and "no unique index" in stats["why_not"]
    with psycopg.connect(sandbox_db) as conn:
        total = conn.execute("select sum(attempts) from reporting_org_daily").fetchone()
        rows = conn.execute("select count(*) from scenario_attempts").fetchone()
    assert total == rows  # the refresh really ran
    listed = {v["name"]: v for v in db.json("--database-url", sandbox_db, "views")}
    assert listed["reporting_org_daily"]["last_refresh"] is not None


def test_refresh_one_by_name_and_by_function(db: Db, sandbox_db: str) -> None:
    [one] = db.json("--database-url", sandbox_db, "views", "refresh", "reporting_scenario_stats")
    assert one["view"] == "public.reporting_scenario_stats"
    called = db.json(
        "--database-url", sandbox_db, "views", "refresh", "--function", "refresh_reporting_views"
    )
    assert called["function"] == "refresh_reporting_views"


def test_unknown_view_or_function_changes_nothing(db: Db, sandbox_db: str) -> None:
    for args, error in (
        (["views", "refresh", "reporting_org_daily", "nope"], "no materialized view 'nope'"),
        (
            ["views", "refresh", "--function", "refresh_everything"],
            "no function public.refresh_everything() taking no arguments",
        ),
    ):
        result = db.run("--database-url", sandbox_db, *args)
        assert result.exit_code == 2 and error in result.output, result.output
    assert all(v["last_refresh"] is None for v in db.json("--database-url", sandbox_db, "views"))


def test_refresh_dry_run_says_how_each_would_refresh_and_refreshes_none(
    db: Db, sandbox_db: str
) -> None:
    shown = db.run("--database-url", sandbox_db, "views", "refresh", "--dry-run")
    assert shown.exit_code == 0, shown.output
    assert "would refresh public.reporting_org_daily concurrently" in shown.output
    assert (
        "would refresh public.reporting_scenario_stats not concurrently: it has no unique index"
        in shown.output
    )
    planned = db.json("--database-url", sandbox_db, "views", "refresh", "--dry-run")
    assert planned["dry_run"] is True and planned["function"] is None
    how = {v["view"]: v["concurrently"] for v in planned["views"]}
    assert how["public.reporting_org_daily"] and not how["public.reporting_scenario_stats"]
    assert all(v["last_refresh"] is None for v in db.json("--database-url", sandbox_db, "views"))
