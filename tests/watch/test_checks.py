"""Every check kind against a real local server, including the ways they fail."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from opsbook.clock import Clock, FrozenClock, SystemClock
from opsbook.config import Config
from opsbook.postgres.cluster import free_port
from opsbook.sandbox.standins import DnsServer, TlsServer, make_certificate
from opsbook.serving import BackgroundServer
from opsbook.watch.result import CheckResult
from opsbook.watch.runner import run_checks
from tests.conftest import RunningSandbox, wait_for
from tests.postgres.conftest import Sessions, as_role
from tests.watch.fakes import (
    FakePrometheus,
    FakeStatusPages,
    statuspage_component,
    statuspage_incident,
    statuspage_summary,
)


def run(checks: list[dict[str, Any]], clock: Clock, **config: Any) -> list[CheckResult]:
    parsed = Config.model_validate({"checks": checks, **config})
    return asyncio.run(run_checks(parsed, parsed.checks, clock=clock))


def one(check: dict[str, Any], clock: Clock, **config: Any) -> CheckResult:
    [result] = run([{"name": "c", **check}], clock, **config)
    return result


def fault(sandbox: RunningSandbox, name: str, value: Any = None) -> None:
    httpx.put(
        f"{sandbox.url}/_sandbox/faults/{name}",
        json={"value": value},
        headers=sandbox.admin,
        timeout=30,
    )


# --- http ------------------------------------------------------------------------------


def test_http_ok_and_json_expectation(sandbox: RunningSandbox, clock: FrozenClock) -> None:
    result = one(
        {
            "kind": "http",
            "url": f"{sandbox.url}/api/health",
            "expect": {"status": 200, "json": ['status == "ok"']},
        },
        clock,
    )
    assert result.state == "ok" and result.summary.startswith(f"GET {sandbox.url}/api/health: 200")
    assert result.metrics["up"] == 1.0


def test_http_500_is_down_with_what_it_got(sandbox: RunningSandbox, clock: FrozenClock) -> None:
    fault(sandbox, "health-500")
    result = one(
        {
            "kind": "http",
            "url": f"{sandbox.url}/api/health",
            "expect": {"json": ['status == "ok"']},
        },
        clock,
    )
    assert result.state == "down"
    assert "expected status 200, got 500" in result.summary
    assert 'expected status == "ok", got {"status":"error"' in result.summary


def test_http_connection_refused(clock: FrozenClock) -> None:
    port = free_port()
    result = one({"kind": "http", "url": f"http://127.0.0.1:{port}/api/health"}, clock)
    assert result.state == "down"
    assert f"cannot connect to 127.0.0.1:{port} (connect call failed" in result.summary or (
        f"cannot connect to 127.0.0.1:{port}" in result.summary
    )


def test_http_timeout(sandbox: RunningSandbox, clock: FrozenClock) -> None:
    fault(sandbox, "latency", 1500)
    result = one({"kind": "http", "url": f"{sandbox.url}/api/version", "timeout": "300ms"}, clock)
    assert (result.state, result.summary) == (
        "down",
        f"GET {sandbox.url}/api/version: no answer within 0.3s",
    )


def test_http_invalid_json_and_slow_answers(sandbox: RunningSandbox, clock: FrozenClock) -> None:
    page = one(
        {"kind": "http", "url": f"{sandbox.url}/sign-in", "expect": {"json": ["status == 'ok'"]}},
        clock,
    )
    assert page.state == "down" and "expected JSON for \"status == 'ok'\"" in page.summary
    fault(sandbox, "latency", 200)
    slow = one(
        {
            "kind": "http",
            "url": f"{sandbox.url}/api/version",
            "expect": {"max_response_time": "100ms"},
        },
        clock,
    )
    assert slow.state == "down" and "more than 100 ms" in slow.summary


def test_http_comparisons_keep_decimals(clock: FrozenClock) -> None:
    stats = FakePrometheus()  # any small JSON server will do

    @stats.app.get("/rate")
    def rate() -> dict[str, Any]:
        return {"error_rate": 0.05}

    server = BackgroundServer(stats.app).start()
    try:
        results = run(
            [
                {
                    "name": "above",
                    "kind": "http",
                    "url": f"{server.url}/rate",
                    "expect": {"json": ["error_rate > 0.01"]},
                },
                {
                    "name": "exact",
                    "kind": "http",
                    "url": f"{server.url}/rate",
                    "expect": {"json": ["error_rate == 0.05"]},
                },
            ],
            clock,
        )
    finally:
        server.stop()
    assert [r.state for r in results] == ["ok", "ok"]


# --- version and webhook ---------------------------------------------------------------


def test_version_matches_short_or_full_sha(sandbox: RunningSandbox, clock: FrozenClock) -> None:
    url = f"{sandbox.url}/api/version"
    assert (
        one({"kind": "version", "url": url, "expected": sandbox.settings.commit[:7]}, clock).state
        == "ok"
    )
    fault(sandbox, "wrong-version", "0badc0de")
    wrong = one({"kind": "version", "url": url, "expected": sandbox.settings.commit}, clock)
    assert wrong.state == "down"
    assert wrong.summary == (
        f"deployed commit 0badc0de is not the expected {sandbox.settings.commit[:12]}"
    )


def test_version_uses_the_app_expected_commit(sandbox: RunningSandbox, clock: FrozenClock) -> None:
    result = one(
        {"kind": "version", "url": f"{sandbox.url}/api/version"},
        clock,
        app={"expected_commit": "ffffffff"},
    )
    assert result.state == "down"


def test_webhook_probe(sandbox: RunningSandbox, clock: FrozenClock) -> None:
    url = f"{sandbox.url}/api/webhooks/clerk"
    ok = one({"kind": "webhook", "url": url}, clock)
    assert ok.state == "ok" and "rejected the unsigned test (401)" in ok.summary
    fault(sandbox, "webhook-404", "clerk")
    missing = one({"kind": "webhook", "url": url}, clock)
    assert (missing.state, missing.summary) == (
        "down",
        f"POST {url}: 404, the webhook endpoint is not deployed",
    )
    fault(sandbox, "webhook-404", "stripe")
    fault(sandbox, "auth-broken")
    broken = one({"kind": "webhook", "url": url}, clock)
    assert broken.state == "down" and "answered 500" in broken.summary


# --- status pages ----------------------------------------------------------------------


def test_statuspage_v2_operational_degraded_and_down(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    fake, url = status_pages
    fake.pages["ok"] = (
        "statuspage",
        statuspage_summary(
            "none", "All Systems Operational", [statuspage_component("API", "operational")], []
        ),
    )
    fake.pages["minor"] = (
        "statuspage",
        statuspage_summary(
            "minor",
            "Partially Degraded Service",
            [statuspage_component("Database", "degraded_performance")],
            [statuspage_incident("Elevated error rates in us-east-1", "investigating", "minor")],
        ),
    )
    fake.pages["down"] = (
        "statuspage",
        statuspage_summary(
            "minor", "Partial System Outage", [statuspage_component("Auth", "major_outage")], []
        ),
    )
    results = run(
        [
            {"name": n, "kind": "statuspage", "provider": "Supabase", "url": f"{url}/{n}"}
            for n in ("ok", "minor", "down")
        ],
        clock,
    )
    assert [(r.state, r.summary) for r in results] == [
        ("ok", "Supabase: All Systems Operational"),
        (
            "degraded",
            "Supabase: degraded performance: Database;"
            " Elevated error rates in us-east-1 (investigating, impact minor)",
        ),
        ("down", "Supabase: major outage: Auth"),
    ]


def test_statuspage_instatus_format(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    fake, url = status_pages
    fake.pages["vapi"] = (
        "instatus",
        {
            "page": {"name": "Vapi", "url": "https://status.vapi.ai", "status": "HASISSUES"},
            "activeIncidents": [
                {
                    "name": "Calls failing to connect",
                    "started": "Mon Mar 02 2026 08:55:50 GMT+0000",
                    "status": "INVESTIGATING",
                    "impact": "MAJOROUTAGE",
                    "url": "https://status.vapi.ai/incident/x",
                }
            ],
            "activeMaintenances": [],
        },
    )
    result = one({"kind": "statuspage", "provider": "Vapi", "url": f"{url}/vapi"}, clock)
    assert (result.state, result.summary) == (
        "down",
        "Vapi: Calls failing to connect (investigating, impact majoroutage)",
    )
    assert result.details["format"] == "instatus"


def test_statuspage_unknown_and_broken(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    fake, url = status_pages
    fake.pages["html"] = ("broken", None)
    broken = one({"kind": "statuspage", "provider": "Clerk", "url": f"{url}/html"}, clock)
    assert broken.state == "error" and "did not answer JSON" in broken.summary
    missing = one({"kind": "statuspage", "provider": "Clerk", "url": f"{url}/nothing"}, clock)
    assert missing.state == "error" and "no known format" in missing.summary


# --- prometheus, command, postgres ------------------------------------------------------


def test_prometheus_value_no_data_and_error(clock: FrozenClock) -> None:
    prom = FakePrometheus()
    prom.answers = {"rate(http_errors[5m])": 0.035, "vapi_latency": None}
    server = BackgroundServer(prom.app).start()
    try:
        results = run(
            [
                {
                    "name": "errors",
                    "kind": "prometheus",
                    "url": server.url,
                    "query": "rate(http_errors[5m])",
                    "metric": "error_rate",
                },
                {
                    "name": "empty",
                    "kind": "prometheus",
                    "url": server.url,
                    "query": "vapi_latency",
                    "metric": "vapi_latency",
                },
                {
                    "name": "bad",
                    "kind": "prometheus",
                    "url": server.url,
                    "query": "rate(",
                    "metric": "x",
                },
            ],
            clock,
        )
    finally:
        server.stop()
    assert results[0].state == "ok" and results[0].metrics == {"error_rate": 0.035}
    assert results[1].state == "degraded" and "no data" in results[1].summary
    assert results[2].state == "error" and "parse error" in results[2].summary


def test_command_exit_status_and_timeout(clock: FrozenClock) -> None:
    results = run(
        [
            {"name": "good", "kind": "command", "command": "echo fine"},
            {"name": "bad", "kind": "command", "command": ["sh", "-c", "echo nope; exit 3"]},
            {"name": "slow", "kind": "command", "command": "sleep 30", "timeout": "200ms"},
        ],
        clock,
    )
    assert [(r.state, r.summary) for r in results] == [
        ("ok", "$ echo fine: exit 0: fine"),
        ("down", "$ sh -c 'echo nope; exit 3': exit 3: nope"),
        ("down", "$ sleep 30: still running after 0.2s"),
    ]


def test_postgres_vitals_through_database_care(pg_url: str, clock: FrozenClock) -> None:
    healthy = one({"kind": "postgres"}, clock, database={"url": pg_url, "disk_quota": "10GB"})
    assert healthy.state == "degraded"  # statement_timeout unset: the runbook's advice
    assert "statement_timeout: unset" in healthy.summary
    assert 0 < healthy.metrics["db_connections_used"] < 0.1
    assert 0 < healthy.metrics["db_disk_used"] < 0.01
    down = one({"kind": "postgres", "database_url": "postgresql://u:pw9876@127.0.0.1:9/x"}, clock)
    assert down.state == "down" and "cannot reach the database" in down.summary
    assert "pw9876" not in down.summary


def test_postgres_check_as_a_role_without_pg_monitor(
    pg_url: str, clock: FrozenClock, app_role: str, watcher_role: str
) -> None:
    others = Sessions(pg_url)
    try:
        # Another role's session waits on a lock: its wait is hidden from the watcher.
        with psycopg.connect(pg_url, autocommit=True) as setup:
            setup.execute("create table orders (id int); grant all on orders to app_user")
        holder = others.open(role=app_role, autocommit=False)
        holder.execute("lock table orders in access exclusive mode")
        others.in_background(others.open(role=app_role), "select count(*) from orders")
        wait_for(lambda: others.state(others.pid(holder)) == "idle in transaction")
        with psycopg.connect(pg_url) as look:
            wait_for(
                lambda: (
                    look.execute("select count(*) from pg_locks where not granted").fetchone()
                    == (1,)
                )
            )
        result = one({"kind": "postgres"}, clock, database={"url": as_role(pg_url, watcher_role)})
    finally:
        others.close()
    assert result.state == "degraded", result.summary  # a query waits: warn, not a crash
    assert "blocked queries: 1 waiting" in result.summary
    assert result.summary.endswith(
        "; this role sees only its own sessions' details: "
        'grant pg_monitor to "ops ""watch"" [/x] $(id)"'
    )
    assert result.details["sees_all_sessions"] is False


# --- tls and dns --------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "state"), [(90, "ok"), (15, "degraded"), (3, "down")])
def test_tls_days_to_expiry(tmp_path: Path, clock: FrozenClock, days: int, state: str) -> None:
    cert, key = make_certificate(tmp_path, days)
    server = TlsServer(cert, key)
    try:
        # A certificate expires in real time, so this check reads the real clock.
        result = one(
            {
                "kind": "tls",
                "host": "127.0.0.1",
                "port": server.port,
                "server_name": "localhost",
                "ca_file": str(cert),
            },
            SystemClock(),
        )
    finally:
        server.close()
    assert result.state == state, result.summary
    assert days - 1 <= result.metrics["tls_days_left"] <= days


def test_tls_untrusted_certificate(tmp_path: Path, clock: FrozenClock) -> None:
    cert, key = make_certificate(tmp_path, 90)
    server = TlsServer(cert, key)
    try:
        result = one(
            {"kind": "tls", "host": "127.0.0.1", "port": server.port, "server_name": "localhost"},
            clock,
        )
    finally:
        server.close()
    assert result.state == "down" and "certificate not trusted" in result.summary


def test_dns_spf_dkim_dmarc(clock: FrozenClock) -> None:
    server = DnsServer(
        {
            "voiceai.test": ["v=spf1 include:amazonses.com ~all"],
            "resend._domainkey.voiceai.test": ["p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC"],
            "_dmarc.voiceai.test": ["v=DMARC1; p=quarantine"],
            "broken.test": ["google-site-verification=abc"],
        }
    )
    try:
        base = {
            "kind": "dns",
            "dkim_selectors": ["resend"],
            "nameservers": [f"127.0.0.1:{server.port}"],
            "timeout": "2s",
        }
        results = run(
            [
                {"name": "good", "domain": "voiceai.test", **base},
                {"name": "bad", "domain": "broken.test", **base},
            ],
            clock,
        )
    finally:
        server.close()
    assert results[0].state == "ok" and "dkim:resend, dmarc, spf present" in results[0].summary
    assert results[1].state == "down"
    assert results[1].summary == (
        "no SPF record (v=spf1) at broken.test; no DKIM record (p=) at"
        " resend._domainkey.broken.test; no DMARC record (v=DMARC1) at _dmarc.broken.test"
    )


def test_one_crashing_check_does_not_stop_the_others(
    sandbox: RunningSandbox, clock: FrozenClock
) -> None:
    results = run(
        [
            {"name": "weird", "kind": "http", "url": "notaurl"},
            {"name": "health", "kind": "http", "url": f"{sandbox.url}/api/health"},
        ],
        clock,
    )
    assert results[0].state in ("down", "error") and results[1].state == "ok"


def test_free_port_is_closed() -> None:
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", free_port())) != 0
