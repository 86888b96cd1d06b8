"""The seed's procedures as the built-in runbooks run them, against the sandbox and its
real database: the provider pages, P0's incident from start to resolution, one archival
cutoff, the DNS records, `pnpm outdated` findings, the two missing P0s, and text that
never says "None"."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from opsbook.clock import FrozenClock
from opsbook.config import parse_config
from opsbook.expressions import ExpressionError, render
from opsbook.incidents import service as incidents
from opsbook.registry import default_registry
from opsbook.runbooks.engine import Engine, Interaction
from opsbook.runbooks.loader import BUILTIN_DIR, load_runbook
from opsbook.runbooks.records import StepRecord
from opsbook.runbooks.suggest import rank
from opsbook.sandbox.standins import DnsServer
from opsbook.store import Store, open_store
from tests.conftest import RunningSandbox
from tests.runbooks.conftest import Ops

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _config_text(sandbox: RunningSandbox, store_url: str, extra: str = "") -> str:
    pages = "".join(
        f"  - {{name: {p.lower()}-status, kind: statuspage, provider: {p},"
        f" url: '{sandbox.url}/_providers/{p.lower()}'}}\n"
        for p in ("Vercel", "Supabase", "Clerk", "Vapi", "Stripe")
    )
    return (
        f"store: {{url: '{store_url}'}}\n"
        f"app: {{url: '{sandbox.url}'}}\n"
        f"database: {{url: '{sandbox.database_url}'}}\n"
        "incidents: {monitor_for: 0s}\n"
        f"checks:\n{pages}{extra}"
    )


class Desk:
    """The engine over the sandbox with a clock held by the test: a run answered by hand."""

    def __init__(self, sandbox: RunningSandbox, tmp_path: Path, extra: str = "") -> None:
        url = f"sqlite:///{tmp_path / 'opsbook.db'}"
        self.config = parse_config(_config_text(sandbox, url, extra), file="opsbook.yaml")
        self.store: Store = open_store(url)
        self.clock = FrozenClock(T0)
        self.registry = default_registry()
        self.engine = Engine(self.store, self.config, self.registry, self.clock, actor="alice")

    def run(
        self, name: str, params: dict[str, Any] | None = None, incident: int | None = None
    ) -> tuple[str, dict[str, StepRecord]]:
        """Run a built-in with --yes and every manual step answered done."""
        runbook = load_runbook(BUILTIN_DIR / f"{name}.yaml", registry=self.registry)
        values = {k: p.default for k, p in runbook.parameters.items()} | (params or {})
        manual = {s.id for s in runbook.steps if s.manual is not None}
        run_id = self.engine.start(runbook, source=name, params=values, incident_id=incident)
        outcome = self.engine.execute(run_id, runbook, Interaction(yes=True, done=manual), values)
        with self.store.reading() as session:
            rows = session.query(StepRecord).filter(StepRecord.run_id == run_id).all()
            return outcome, {r.step_id: r for r in rows}


@pytest.fixture
def desk(sandbox: RunningSandbox, tmp_path: Path) -> Any:
    found = Desk(sandbox, tmp_path)
    yield found
    found.store.close()


def _fault(sandbox: RunningSandbox, name: str, value: Any) -> None:
    httpx.put(
        f"{sandbox.url}/_sandbox/faults/{name}", headers=sandbox.admin, json={"value": value},
        timeout=30,
    ).raise_for_status()  # fmt: skip


def test_p0_outage_opens_the_seeds_incident_and_carries_it_to_resolved(
    desk: Desk, sandbox: RunningSandbox
) -> None:
    _fault(sandbox, "health-500", "on")
    outcome, steps = desk.run("p0-outage")
    assert outcome == "succeeded", {k: (s.status, s.error) for k, s in steps.items()}
    assert steps["open"].status == "succeeded"
    with desk.store.reading() as session:
        [incident] = incidents.list_incidents(session)
        moves = [
            e.data.get("to")
            for e in incidents.timeline(session, incident_id=incident.id)
            if e.kind == "status"
        ]
    assert (incident.title, incident.severity, incident.status) == (
        "Service Outage",
        "P0",
        "resolved",
    )
    assert moves == ["acknowledged", "investigating", "monitoring", "resolved"]
    assert steps["health"].output["status"] == 500
    assert steps["vercel_status"].output["state"] == "ok"
    assert "/_providers/vercel" in steps["vercel_status"].output["url"]
    assert steps["recent_deployments"].output["count"] == 0
    assert steps["rollback"].status == "skipped"  # no deploy in the window
    assert steps["database"].output["findings"]["connections"]["state"] == "ok"
    assert (
        steps["postmortem"]
        .inputs["instruction"]
        .startswith(f"Draft it now: opsbook incident postmortem {incident.id} ")
    )


def test_a_provider_outage_fails_its_status_step_with_the_providers_words(
    desk: Desk, sandbox: RunningSandbox
) -> None:
    _fault(sandbox, "provider-outage", "clerk")
    _, steps = desk.run("p1-auth-failures")
    clerk = steps["clerk_status"]
    assert clerk.status == "failed" and "Authentication" in (clerk.error or "")
    assert clerk.output["state"] == "down"


def test_archive_old_attempts_counts_moves_and_verifies_against_one_cutoff(
    desk: Desk, sandbox: RunningSandbox
) -> None:
    outcome, steps = desk.run(
        "archive-old-attempts", {"older_than": 30 * 86400.0, "with_referencing": True}
    )
    assert outcome == "succeeded", {k: (s.status, s.error) for k, s in steps.items()}
    cutoff = steps["candidates"].output["rows"][0]["cutoff"]
    at = dt.datetime.fromisoformat(cutoff)
    assert dt.datetime.fromisoformat(steps["archive"].inputs["before"]) == at
    assert dt.datetime.fromisoformat(steps["archive"].output["cutoff"]) == (
        dt.datetime.fromisoformat(cutoff)
    )
    assert steps["archive"].output["count"] == steps["candidates"].output["rows"][0]["rows"] > 0
    assert steps["verify"].inputs["params"]["cutoff"] == cutoff
    with psycopg.connect(sandbox.database_url) as conn:
        row = conn.execute(
            "select count(*) from scenario_attempts where ended_at < %s::timestamptz", (cutoff,)
        ).fetchone()
    assert row == (0,)


def test_emails_dns_step_reads_the_configured_records(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    server = DnsServer({"mail.example": ["v=spf1 include:resend.com ~all"]})
    try:
        check = (
            "  - {name: email-dns, kind: dns, domain: mail.example, require: [spf, dkim],"
            f" dkim_selectors: [resend], nameservers: ['127.0.0.1:{server.port}']}}\n"
        )
        desk = Desk(sandbox, tmp_path, check)
        _, steps = desk.run("emails-not-sending")
    finally:
        server.close()
    dns = steps["dns"]
    assert dns.status == "failed" and "no DKIM record" in (dns.error or "")
    assert dns.output["results"][0]["name"] == "email-dns"


def _fake_pnpm(folder: Path, code: int) -> None:
    pnpm = folder / "pnpm"
    pnpm.write_text(f"#!/bin/sh\necho 'react 18.2.0 19.0.0'\nexit {code}\n")
    pnpm.chmod(pnpm.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize(("code", "status", "asked"), [(0, "succeeded", "skipped"),
                                                      (1, "succeeded", "confirmed"),
                                                      (127, "failed", "confirmed")])  # fmt: skip
def test_pnpm_outdated_finding_is_a_finding_and_a_crash_a_failure(
    desk: Desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, status: str,
    asked: str,
) -> None:  # fmt: skip
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_pnpm(bin_dir, code)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    _, steps = desk.run("monthly", {"dir": str(tmp_path)})
    assert steps["outdated"].status == status
    assert steps["outdated"].output["exit_code"] == code
    assert steps["patch_updates"].status == asked


def test_post_incident_without_an_incident_stops_instead_of_saying_none(desk: Desk) -> None:
    outcome, steps = desk.run("post-incident")
    assert outcome == "failed" and "--incident" in (steps["incident"].error or "")
    assert steps["postmortem"].status == "pending"
    with pytest.raises(ExpressionError, match="not set"):
        render("opsbook incident postmortem {{ incident.id }}", {"incident": {"id": None}})
    assert render("{{ incident.id }}", {"incident": {"id": None}}) is None  # a value, not text


def test_payments_down_probes_stripe_and_lists_deploys(desk: Desk) -> None:
    outcome, steps = desk.run("payments-down")
    assert outcome == "succeeded", {k: (s.status, s.error) for k, s in steps.items()}
    assert steps["stripe_status"].output["state"] == "ok"
    assert steps["stripe_webhook"].status == "succeeded"
    assert steps["stripe_webhook"].output["status"] == 401  # unsigned: refused, deployed
    assert steps["recent_deployments"].status == "succeeded"
    assert steps["status_page"].status == "succeeded"
    with desk.store.reading() as session:
        [incident] = incidents.list_incidents(session)
    assert (incident.title, incident.component) == ("Payment processing down", "payments")


def test_data_breach_keeps_the_sessions_and_checks_every_key_was_rotated(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    desk = Desk(sandbox, tmp_path, "maintenance: {keys: {stripe: {every: 90d}}}\n".replace(
        "maintenance", "\nmaintenance"))  # fmt: skip
    role = f"breach_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(sandbox.database_url, autocommit=True) as conn:
        # Idle after it: pg_stat_activity shows this statement, password and all.
        conn.execute(f"create role {role} login password 'hunter2-Zq9'")
        try:
            outcome, steps = desk.run("data-breach")
        finally:
            conn.execute(f"drop role {role}")
    assert steps["sessions"].status == "succeeded"
    # The evidence kept in the run's record shows the statement, not the password.
    kept = [r["query"] for r in steps["sessions"].output["rows"]]
    assert f"create role {role} login password ***" in kept
    assert "hunter2-Zq9" not in json.dumps(steps["sessions"].output)
    assert steps["rotated"].status == "failed"  # nobody recorded rotating stripe today
    assert outcome == "failed"


@pytest.mark.parametrize(
    ("title", "symptoms", "component", "expected"),
    [
        ("Stripe webhook failing", [], "payments", "payments-down"),
        ("Checkout failing", ["Subscription payments not going through"], None, "payments-down"),
        ("Leaked API key", ["Suspicious logins or admin activity"], None, "data-breach"),
        ("Possible data breach", [], "security", "data-breach"),
    ],
)
def test_the_new_p0s_are_suggested(
    title: str, symptoms: list[str], component: str | None, expected: str
) -> None:
    registry = default_registry()
    books = [load_runbook(p, registry=registry) for p in sorted(BUILTIN_DIR.glob("*.yaml"))]
    ranked = rank(books, title=title, symptoms=symptoms, component=component, severity="P0")
    assert ranked[0].runbook == expected


def test_the_quarterly_review_says_how_to_enable_pg_stat_statements(desk: Desk) -> None:
    _, steps = desk.run("quarterly")
    review = steps["slow_queries"]
    assert review.status == "failed" and "Database > Extensions" in (review.error or "")
    assert steps["refresh_views"].status in ("succeeded", "failed")  # the run went on


def test_the_cli_runs_a_status_step(ops: Ops) -> None:
    run = ops.json("runbook", "run", "voice-calls-failing")
    [status] = [s for s in run["steps"] if s["id"] == "vapi_status"]
    assert status["status"] == "succeeded" and status["output"]["state"] == "ok"
    assert "/_providers/vapi" in status["output"]["url"]  # the config's check, not the seed's


def test_data_breach_with_no_keys_listed_never_says_they_were_rotated(desk: Desk) -> None:
    """An empty maintenance.keys is no proof: the rotation check fails, saying why."""
    assert desk.config.maintenance.keys == {}
    _, steps = desk.run("data-breach")
    assert steps["keys"].status == "failed"
    assert "lists no keys" in (steps["keys"].error or "")
    assert steps["rotated"].status == "failed"
    assert "lists 0" in (steps["rotated"].error or "")
