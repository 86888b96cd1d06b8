"""Issue 18, items 1 and 2: a manual step gates the steps after it unless it is a reminder
(`blocking: false`); a step "if it breaks" runs only when the verification before it
failed; a later item that does not depend on a failed one still comes. Built-in runbooks,
run as from a script (no terminal) against the sandbox's real database."""

from __future__ import annotations

import json
from typing import Any

import httpx
import psycopg
import pytest

from opsbook.runbooks.loader import BUILTIN_DIR
from opsbook.sandbox.client import faults_call
from tests.runbooks.conftest import Ops


def statuses(run: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["status"] for s in run["steps"]}


def has_table(ops: Ops, name: str) -> bool:
    with psycopg.connect(ops.sandbox.database_url) as conn:
        found = conn.execute("select to_regclass(%s) is not null", [name]).fetchone()
    return bool(found and found[0])


def test_db_migrate_applies_nothing_before_the_local_test_is_confirmed(ops: Ops) -> None:
    folder = ops.root / "migrations"
    folder.mkdir()
    (folder / "20260101000000_add_notes.sql").write_text("create table notes (id int);\n")
    args = ("--param", f"dir={folder}", "--param", "backup_taken=true", "--yes")
    first = ops.json("runbook", "run", "db-migrate", *args)
    assert (first["status"], first["paused_at"]) == ("waiting", "local")
    # The backup is a reminder (the push step checks for a verified backup itself).
    assert statuses(first) == {
        "backup": "waiting",
        "local": "waiting",
        "push": "pending",
        "verify": "pending",
        "affected_queries": "pending",
        "rollback_plan": "pending",
    }
    assert not has_table(ops, "public.notes")
    # --yes again approves actions; it does not say a person tested locally.
    again = ops.json("runbook", "resume", str(first["id"]), "--yes")
    assert statuses(again)["push"] == "pending" and not has_table(ops, "public.notes")

    run = ops.json("runbook", "resume", str(first["id"]), "--done", "local", "--yes")
    assert has_table(ops, "public.notes")
    assert statuses(run) == {
        "backup": "waiting",
        "local": "confirmed",
        "push": "succeeded",
        "verify": "succeeded",
        "affected_queries": "waiting",
        "rollback_plan": "pending",
    }
    tested = ops.json("runbook", "resume", str(first["id"]), "--done", "affected_queries")
    assert statuses(tested)["rollback_plan"] == "skipped"  # the verification passed
    rollback = next(s for s in tested["steps"] if s["id"] == "rollback_plan")
    assert rollback["error"] == "when steps.verify.status == 'failed' is false"


def test_db_migrate_offers_the_rollback_when_the_verification_fails(ops: Ops) -> None:
    # The built-in, overridden by a team copy whose verification cannot pass.
    text = (BUILTIN_DIR / "db-migrate.yaml").read_text()
    assert "expect: output.rowcount > 0" in text
    ops.book("db-migrate", text.replace("output.rowcount > 0", "output.rowcount > 10000"))
    folder = ops.root / "migrations"
    folder.mkdir()
    args = ("--param", f"dir={folder}", "--param", "backup_taken=true", "--yes")
    first = ops.json("runbook", "run", "db-migrate", *args)
    run = ops.json("runbook", "resume", str(first["id"]), "--done", "local", "--yes", code=1)
    assert run["status"] == "failed"
    found = statuses(run)
    assert (found["verify"], found["affected_queries"]) == ("failed", "skipped")
    assert found["rollback_plan"] == "waiting"


def test_quarterly_goes_on_to_the_pentest_and_drill_when_the_refresh_fails(ops: Ops) -> None:
    with psycopg.connect(ops.sandbox.database_url, autocommit=True) as conn:
        conn.execute("drop function refresh_reporting_views()")
    run = ops.json("runbook", "run", "quarterly", "--yes", code=1)
    found = statuses(run)
    assert found["refresh_views"] == "failed"
    assert (found["pentest"], found["dr_drill"]) == ("waiting", "waiting")
    assert run["status"] == "failed"


def test_the_kill_step_asks_with_how_many_it_ends_and_how_full_the_pool_is(
    ops: Ops, app_role: str
) -> None:
    url = ops.sandbox.database_url.replace("postgres@", f"{app_role}@")
    leaked = [psycopg.connect(url, autocommit=True, application_name="web") for _ in range(3)]
    try:
        pids = ", ".join(str(c.info.backend_pid) for c in sorted(leaked, key=_pid))
        result = ops.run("runbook", "run", "p1-db-connections", "--param", "idle_minutes=0")
        assert result.exit_code == 1, result.output
        said = " ".join(result.output.split())
        assert f"would: terminate 3 session(s) idle for more than 0s (pid {pids})" in said
        assert "The pool: " in said and "connections in use (" in said
        assert "(warn above 70%, critical above 90%)" in said
        with psycopg.connect(ops.sandbox.database_url) as conn:
            row = conn.execute(
                "select count(*) filter (where backend_type = 'client backend'),"
                " current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " from pg_stat_activity"
            ).fetchone()
        assert row is not None
        assert f"of {row[1]} connections in use" in said
        run = ops.json("runbook", "runs")[0]
        assert run["status"] == "refused"
        assert all(not c.closed and c.execute("select 1").fetchone() for c in leaked)
    finally:
        for conn in leaked:
            conn.close()


def _pid(conn: psycopg.Connection[Any]) -> int:
    return conn.info.backend_pid


def test_the_clerk_delivery_logs_show_when_the_probe_gets_401(ops: Ops) -> None:
    """The sandbox's Clerk webhook answers an unsigned test with 401, as a wrong signing
    secret would: the probe passes, and the delivery logs are still shown."""
    run = ops.json("runbook", "run", "p1-auth-failures")
    steps = {s["id"]: s for s in run["steps"]}
    assert steps["clerk_webhook"]["output"]["status"] == 401
    assert steps["webhook_deliveries"]["status"] == "waiting"
    assert "Delivery logs" in steps["webhook_deliveries"]["inputs"]["instruction"]


def test_a_step_reads_the_incidents_symptoms(ops: Ops) -> None:
    ops.book(
        "hooks",
        """\
        name: hooks
        title: Hooks
        steps:
          - id: logs
            title: Delivery logs
            blocking: false
            manual: "Check the delivery logs"
            when: "'webhook' in (incident.title ~ ' ' ~ incident.symptoms | join(' ')) | lower"
        """,
    )
    hostile = "/api/webhooks/clerk failing [/x] $(reboot) \x1b[31m"
    opened = ops.json(
        "incident", "open", "--sev", "P1", "--title", "Login fails", "--symptom", hostile
    )
    other = ops.json("incident", "open", "--sev", "P1", "--title", "Login fails")
    shown = ops.json("runbook", "run", "hooks", "--incident", str(opened["id"]))
    left = ops.json("runbook", "run", "hooks", "--incident", str(other["id"]))
    alone = ops.json("runbook", "run", "hooks")
    assert [r["steps"][0]["status"] for r in (shown, left, alone)] == [
        "waiting",
        "skipped",
        "skipped",
    ]


def test_slow_dashboard_times_the_dashboard_not_the_sign_in_page(ops: Ops) -> None:
    """Signed out, /dashboard answers 307 to /sign-in: following it would time the sign-in
    page and call the dashboard fast. The step says what it timed, and why."""
    status, _ = faults_call(
        ops.sandbox.url, ops.sandbox.settings.admin_token, "PUT", "signed-out", "on"
    )
    assert status == 200
    run = ops.json("runbook", "run", "slow-dashboard", "--yes", code=1)
    measure = run["steps"][0]
    assert measure["status"] == "failed"
    [page] = measure["output"]["pages"]
    assert (page["path"], page["status"], page["location"]) == ("/dashboard", 307, "/sign-in")
    assert measure["error"].startswith(
        "/dashboard: expected 200, got 307 to /sign-in: not signed in: the "
    )
    assert "timed the redirect, not the page" in measure["error"]
    assert "set app.session" in measure["error"]
    assert page["signed_in"] is False
    assert run["steps"][1]["status"] == "succeeded"  # the views are refreshed all the same


def test_slow_dashboard_signed_in_times_the_dashboard_itself(
    ops: Ops, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With app.session set (a test account's cookie, from the environment), the
    dashboard is opened signed in: 200 and its own time. The cookie is never shown."""
    token = ops.sandbox.settings.session_token
    monkeypatch.setenv("APP_SESSION", token)
    ops.config.write_text(
        ops.config.read_text().replace(
            "app:\n", "app:\n  session: {cookie: __session, value: '${APP_SESSION}'}\n", 1
        )
    )
    faults_call(ops.sandbox.url, ops.sandbox.settings.admin_token, "PUT", "signed-out", "on")
    signed_out = httpx.get(f"{ops.sandbox.url}/dashboard", timeout=30)
    assert (signed_out.status_code, signed_out.headers["location"]) == (307, "/sign-in")
    run = ops.json("runbook", "run", "slow-dashboard", "--yes")
    measure = run["steps"][0]
    assert measure["status"] == "succeeded", measure["error"]
    [page] = measure["output"]["pages"]
    assert (page["path"], page["status"], page["signed_in"]) == ("/dashboard", 200, True)
    assert page["elapsed_ms"] == measure["output"]["slowest_ms"]
    shown = [
        ops.run("runbook", "run", "slow-dashboard", "--dry-run").output,
        ops.run("runbook", "show", "slow-dashboard", "--json").output,
        ops.run("audit", "list", "--json").output,
        ops.run("config", "check").output,
        json.dumps(run),
    ]
    assert all(token not in text for text in shown)
