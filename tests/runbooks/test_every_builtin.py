"""Issue 18, "done when": every built-in runbook runs end to end against the sandbox, as a
responder runs it: `runbook run NAME --yes`, then each manual step it waits for answered
with `runbook resume ID --done STEP`, until nothing waits. Each test asserts what the
automated steps did (sessions ended, a drill passed, a note on the timeline), not merely
that the run finished. `RUN_END_TO_END` names the test that does so for every built-in,
here or elsewhere, so a new built-in without one fails `test_every_builtin_has_one`."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner, Result

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.context import AppContext
from opsbook.runbooks.loader import BUILTIN_DIR
from opsbook.sandbox.standins import DnsServer
from tests.conftest import wait_for
from tests.runbooks.conftest import Ops

# Every built-in, and the test that runs it from start to finish against the sandbox.
RUN_END_TO_END = {
    "archive-old-attempts": "tests/runbooks/test_procedures.py::"
    "test_archive_old_attempts_counts_moves_and_verifies_against_one_cutoff",
    "data-breach": "tests/runbooks/test_every_builtin.py::"
    "test_data_breach_finishes_once_every_key_is_rotated",
    "db-migrate": "tests/runbooks/test_gating.py::"
    "test_db_migrate_applies_nothing_before_the_local_test_is_confirmed",
    "deploy": "tests/deploy/test_deploy_runbook.py::"
    "test_verify_waits_for_merge_and_monitor_then_judges_the_new_deployment",
    "deploy-rollback": "tests/deploy/test_rollback.py::"
    "test_the_deploy_rollback_runbook_rolls_back_through_the_action",
    "dr-drill": "tests/runbooks/test_every_builtin.py::"
    "test_dr_drill_waits_for_the_schedule_then_drills_and_asks_for_the_review",
    "emails-not-sending": "tests/runbooks/test_every_builtin.py::"
    "test_emails_not_sending_finishes_with_the_dns_records_found",
    "high-memory": "tests/runbooks/test_every_builtin.py::"
    "test_high_memory_is_four_reminders_each_confirmed_by_the_responder",
    "monthly": "tests/runbooks/test_procedures.py::"
    "test_pnpm_outdated_finding_is_a_finding_and_a_crash_a_failure",
    "p0-outage": "tests/runbooks/test_procedures.py::"
    "test_p0_outage_opens_the_seeds_incident_and_carries_it_to_resolved",
    "p1-auth-failures": "tests/runbooks/test_every_builtin.py::"
    "test_p1_auth_failures_probes_clerk_and_shows_the_delivery_logs",
    "p1-db-connections": "tests/runbooks/test_every_builtin.py::"
    "test_p1_db_connections_ends_the_idle_leak_and_the_named_query",
    "payments-down": "tests/runbooks/test_procedures.py::"
    "test_payments_down_probes_stripe_and_lists_deploys",
    "post-incident": "tests/runbooks/test_every_builtin.py::"
    "test_post_incident_notes_the_incident_and_names_it_in_each_step",
    "quarterly": "tests/runbooks/test_every_builtin.py::"
    "test_quarterly_refreshes_the_views_and_reaches_the_drill",
    "slow-dashboard": "tests/runbooks/test_every_builtin.py::"
    "test_slow_dashboard_finishes_timing_the_dashboard_and_refreshing_views",
    "voice-calls-failing": "tests/runbooks/test_every_builtin.py::"
    "test_voice_calls_failing_reads_vapi_and_probes_its_webhook",
    "weekly": "tests/runbooks/test_every_builtin.py::test_weekly_reads_disk_backups_and_indexes",
}


def test_every_builtin_has_one() -> None:
    builtins = {p.stem for p in BUILTIN_DIR.glob("*.yaml")}
    assert set(RUN_END_TO_END) == builtins
    root = Path(__file__).parents[2]
    for where in RUN_END_TO_END.values():
        path, name = where.split("::")
        assert f"\ndef {name}(" in (root / path).read_text(), where


class Responder:
    """`opsbook` at a script's terminal on the ops config, with the sandbox's clock."""

    def __init__(self, ops: Ops, clock: FrozenClock) -> None:
        self.ops, self.clock = ops, clock

    def opsbook(self, *args: str) -> Result:
        return CliRunner().invoke(
            app, ["--config", str(self.ops.config), *args], obj=AppContext(clock=self.clock)
        )

    def call(self, *args: str) -> tuple[int, Any]:
        result = self.opsbook(*args, "--json")
        assert result.exit_code in (0, 1), result.output
        return result.exit_code, json.loads(result.stdout)

    def finish(
        self,
        name: str,
        *args: str,
        before: dict[str, Callable[[], None]] | None = None,
    ) -> tuple[dict[str, Any], list[list[str]]]:
        """Run NAME with --yes, then answer what it waits for with resume --done (doing
        `before[step]` first, as the person would) until nothing waits. Returns the last
        run and, per answer, the steps it answered."""
        _, run = self.call("runbook", "run", name, "--yes", *args)
        answered: list[list[str]] = []
        while waiting := [s["id"] for s in run["steps"] if s["status"] == "waiting"]:
            assert len(answered) < len(run["steps"]), answered  # every answer moves it on
            for step in waiting:
                (before or {}).get(step, lambda: None)()
            done = [arg for step in waiting for arg in ("--done", step)]
            _, run = self.call("runbook", "resume", str(run["id"]), *done, "--yes")
            answered.append(waiting)
        assert all(s["status"] not in ("pending", "running") for s in run["steps"]), run
        return run, answered


@pytest.fixture
def responder(ops: Ops, clock: FrozenClock) -> Responder:
    return Responder(ops, clock)


def steps_of(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in run["steps"]}


def confirmed(run: dict[str, Any]) -> set[str]:
    return {s["id"] for s in run["steps"] if s["status"] == "confirmed"}


def add_config(ops: Ops, text: str) -> None:
    ops.config.write_text(ops.config.read_text() + text)


def test_high_memory_is_four_reminders_each_confirmed_by_the_responder(
    responder: Responder,
) -> None:
    run, answered = responder.finish("high-memory")
    assert run["status"] == "succeeded"
    assert answered == [["leaks", "pagination", "caches", "upgrade"]]  # reminders: one answer
    assert {s["output"]["confirmed_by"] for s in run["steps"]} == {"alice"}


def test_weekly_reads_disk_backups_and_indexes(
    responder: Responder, ops: Ops, tmp_path: Path
) -> None:
    add_config(ops, f"backups:\n  dir: {tmp_path / 'backups'}\n")
    _, backup = responder.call("backup", "create")
    responder.call("backup", "verify", str(backup["id"]))
    with psycopg.connect(ops.sandbox.database_url, autocommit=True) as conn:
        conn.execute("create index never_scanned on scenarios (title)")
    run, _ = responder.finish("weekly")
    assert run["status"] == "succeeded", [(s["id"], s["status"], s["error"]) for s in run["steps"]]
    steps = steps_of(run)
    assert confirmed(run) == {"sentry", "security_updates"}
    assert steps["disk_usage"]["output"]["findings"]["database size"]["state"] == "info"
    tables = [row["table"] for row in steps["table_sizes"]["output"]["rows"]]
    assert "scenario_attempts" in tables and len(tables) <= 20
    assert steps["backups"]["output"]["backup"] == backup["id"]
    unused = json.dumps(steps["unused_indexes"]["output"])
    assert "never_scanned" in unused


def _sleeping(url: str, ended: list[str]) -> None:
    """A report's long query, until the runbook's kill_query ends it."""
    with psycopg.connect(url, autocommit=True, application_name="report") as conn:
        try:
            conn.execute("select pg_sleep(60)")
        except psycopg.OperationalError as exc:
            ended.append(str(exc))


def _active(url: str, application: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select pid from pg_stat_activity where application_name = %s and state = 'active'"
            " and query like 'select pg_sleep%%'",
            [application],
        ).fetchall()
    return [row[0] for row in rows]


def test_p1_db_connections_ends_the_idle_leak_and_the_named_query(
    responder: Responder, ops: Ops, app_role: str
) -> None:
    url = ops.sandbox.database_url.replace("postgres@", f"{app_role}@")
    leaked = [psycopg.connect(url, autocommit=True, application_name="web") for _ in range(2)]
    idle = sorted(c.info.backend_pid for c in leaked)
    ended_by: list[str] = []
    sleeper = threading.Thread(target=_sleeping, args=(url, ended_by))
    sleeper.start()
    try:
        wait_for(lambda: bool(_active(ops.sandbox.database_url, "report")))
        [pid] = _active(ops.sandbox.database_url, "report")
        run, answered = responder.finish(
            "p1-db-connections", "--param", "idle_minutes=0", "--param", f"pid={pid}"
        )
    finally:
        for conn in leaked:
            conn.close()
    sleeper.join(timeout=30)  # the query it ran was ended: the thread is done
    assert not sleeper.is_alive() and ended_by
    assert run["status"] == "succeeded", [(s["id"], s["status"], s["error"]) for s in run["steps"]]
    steps = steps_of(run)
    assert steps["pool"]["output"]["rows"][0]["active"] >= 1
    assert sorted(steps["kill_idle"]["output"]["ended"]) == idle
    assert pid in [row["pid"] for row in steps["slow_queries"]["output"]["rows"]]
    assert steps["kill_query"]["status"] == "succeeded"
    assert answered == [["upgrade_plan", "pgbouncer", "prevention"]]
    assert _active(ops.sandbox.database_url, "report") == []


def _scratch_left(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select datname from pg_database where datname like 'opsbook_drill%'")
        return [row[0] for row in rows]


@pytest.mark.slow
def test_dr_drill_waits_for_the_schedule_then_drills_and_asks_for_the_review(
    responder: Responder, ops: Ops, tmp_path: Path
) -> None:
    add_config(ops, f"backups:\n  dir: {tmp_path / 'backups'}\n")
    run, answered = responder.finish("dr-drill")
    assert answered == [["schedule"], ["review"], ["update_runbooks"]]
    assert run["status"] == "succeeded", [(s["id"], s["status"], s["error"]) for s in run["steps"]]
    drill = steps_of(run)["drill"]["output"]
    assert drill["verdict"] == "passed" and drill["problems"] == []
    assert drill["backup"] is not None  # the seed's step 1: a backup taken for the drill
    assert _scratch_left(ops.sandbox.database_url) == []
    _, listed = responder.call("drill", "list")
    assert [d["id"] for d in listed] == [drill["id"]]


def test_post_incident_notes_the_incident_and_names_it_in_each_step(
    responder: Responder,
) -> None:
    _, opened = responder.call("incident", "open", "--sev", "P1", "--title", "Login fails")
    incident = str(opened["id"])
    run, _ = responder.finish("post-incident", "--incident", incident)
    assert run["status"] == "succeeded", [(s["id"], s["status"], s["error"]) for s in run["steps"]]
    steps = steps_of(run)
    assert steps["postmortem"]["inputs"]["instruction"] == (
        f"opsbook incident postmortem {incident} --out postmortem.md"
    )
    assert steps["tickets"]["inputs"]["instruction"].startswith(
        f"opsbook incident actions {incident} add"
    )
    _, shown = responder.call("incident", "show", incident)
    texts = [e["text"] for e in shown["timeline"]]
    assert "After-incident work started: post-mortem, runbook updates, follow-up tickets." in texts


def test_voice_calls_failing_reads_vapi_and_probes_its_webhook(responder: Responder) -> None:
    run, _ = responder.finish("voice-calls-failing")
    assert run["status"] == "succeeded", [(s["id"], s["status"], s["error"]) for s in run["steps"]]
    steps = steps_of(run)
    assert steps["vapi_status"]["output"]["state"] == "ok"
    assert steps["vapi_webhook"]["output"]["status"] in (200, 401)
    assert confirmed(run) == {"api_key", "mic", "other_browser", "webhook_logs"}


def test_p1_auth_failures_probes_clerk_and_shows_the_delivery_logs(
    responder: Responder,
) -> None:
    run, _ = responder.finish("p1-auth-failures")
    assert run["status"] == "succeeded", [(s["id"], s["status"], s["error"]) for s in run["steps"]]
    steps = steps_of(run)
    assert steps["clerk_status"]["output"]["state"] == "ok"
    assert steps["clerk_webhook"]["output"]["status"] == 401  # unsigned: refused, deployed
    assert "webhook_deliveries" in confirmed(run)  # a 401 is what a wrong secret gives too


def test_data_breach_finishes_once_every_key_is_rotated(
    responder: Responder, ops: Ops, clock: FrozenClock
) -> None:
    add_config(ops, "maintenance:\n  keys:\n    stripe: {every: 90d}\n    vapi: {every: 90d}\n")

    def rotate(on: dt.date | None = None) -> None:
        for key in ("stripe", "vapi"):
            when = ["--on", on.isoformat()] if on else []
            assert responder.opsbook("maintenance", "rotated", key, *when).exit_code == 0

    rotate(on=clock.now().date() - dt.timedelta(days=30))  # the monthly rotation, last month

    run, answered = responder.finish("data-breach", before={"rotate": rotate})
    assert run["status"] == "succeeded", [(s["id"], s["status"], s["error"]) for s in run["steps"]]
    assert [a[0] for a in answered] == [
        "contain",
        "evidence",
        "rotate",
        "notify_team",
        "customers",
        "postmortem",
    ]
    steps = steps_of(run)
    assert steps["open"]["status"] == "succeeded" and run["incident_id"] is not None
    assert {k["key"] for k in steps["keys"]["output"]["keys"]} == {"stripe", "vapi"}
    assert {k["days_ago"] for k in steps["rotated"]["output"]["keys"]} == {0}
    assert steps["sessions"]["status"] == "succeeded"
    _, shown = responder.call("incident", "show", str(run["incident_id"]))
    assert shown["status"] == "investigating"  # acknowledged, then the status page update


def test_emails_not_sending_finishes_with_the_dns_records_found(
    responder: Responder, ops: Ops, dns_server: DnsServer
) -> None:
    ops.config.write_text(
        ops.config.read_text()
        + "  - {name: email-dns, kind: dns, domain: mail.example, require: [spf, dkim],"
        f" dkim_selectors: [resend], nameservers: ['{dns_server.address}']}}\n"
    )
    run, _ = responder.finish("emails-not-sending")
    assert run["status"] == "succeeded", [(s["id"], s["status"], s["error"]) for s in run["steps"]]
    [result] = steps_of(run)["dns"]["output"]["results"]
    assert (result["name"], result["state"]) == ("email-dns", "ok")
    assert confirmed(run) == {"resend", "email_from", "queue", "personal"}


def test_quarterly_refreshes_the_views_and_reaches_the_drill(responder: Responder) -> None:
    run, _ = responder.finish("quarterly")
    steps = steps_of(run)
    # The test cluster has no pg_stat_statements: the review says how to enable it.
    assert steps["slow_queries"]["status"] == "failed"
    assert steps["refresh_views"]["status"] == "succeeded"
    assert steps["refresh_views"]["output"]["function"] == "refresh_reporting_views"
    assert confirmed(run) == {"optimize", "archive", "pentest", "dr_drill"}
    assert run["status"] == "failed"  # a failed review stays failed


def test_slow_dashboard_finishes_timing_the_dashboard_and_refreshing_views(
    responder: Responder,
) -> None:
    run, _ = responder.finish("slow-dashboard")
    assert run["status"] == "succeeded", [(s["id"], s["status"], s["error"]) for s in run["steps"]]
    steps = steps_of(run)
    [page] = steps["measure"]["output"]["pages"]
    assert (page["path"], page["status"]) == ("/dashboard", 200)
    assert steps["refresh_views"]["output"]["function"] == "refresh_reporting_views"
    assert confirmed(run) == {"indexes", "cache", "lazy_load"}


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer(
        {
            "mail.example": ["v=spf1 include:resend.com ~all"],
            "resend._domainkey.mail.example": ["v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GN"],
        }
    )
    yield server
    server.close()
