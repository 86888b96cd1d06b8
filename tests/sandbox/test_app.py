"""Every sandbox route, over real HTTP against a real database."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg import sql

from opsbook.clock import FrozenClock
from opsbook.postgres.cluster import TempCluster
from opsbook.sandbox.app import create_app
from opsbook.sandbox.settings import SandboxSettings
from opsbook.sandbox.signatures import stripe_sign, svix_sign
from opsbook.serving import BackgroundServer
from tests.conftest import T0, RunningSandbox, wait_for


def test_health_is_ok_when_the_database_answers(sandbox: RunningSandbox) -> None:
    response = httpx.get(f"{sandbox.url}/api/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_health_is_500_when_the_database_is_unreachable(pg_cluster) -> None:
    settings = SandboxSettings(database_url=pg_cluster.url("no_such_database"))
    server = BackgroundServer(create_app(settings)).start()
    try:
        response = httpx.get(f"{server.url}/api/health")
    finally:
        server.stop()
    assert response.status_code == 500
    assert response.json() == {"status": "error", "error": "database unreachable"}


def test_version_reports_the_commit(sandbox: RunningSandbox) -> None:
    assert httpx.get(f"{sandbox.url}/api/version").json() == {"commit": sandbox.settings.commit}


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("/sign-in", "<form"),
        ("/dashboard", "id=attempts"),
        ("/scenarios", "<li data-id="),
        ("/settings", "<span id=orgs>3</span>"),
    ],
)
def test_pages_render(sandbox: RunningSandbox, path: str, marker: str) -> None:
    response = httpx.get(sandbox.url + path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert marker in response.text


def test_dashboard_reads_the_reporting_view(sandbox: RunningSandbox) -> None:
    with psycopg.connect(sandbox.database_url) as conn:
        row = conn.execute(
            "select sum(attempts) from reporting_org_daily where day >= current_date - 30"
        ).fetchone()
    assert row is not None
    assert f"<dd id=attempts>{row[0] or 0}</dd>" in httpx.get(f"{sandbox.url}/dashboard").text


def test_scenarios_api_lists_scenarios(sandbox: RunningSandbox) -> None:
    scenarios = httpx.get(f"{sandbox.url}/api/scenarios").json()
    assert len(scenarios) == 8
    assert set(scenarios[0]) == {"id", "org_id", "title", "difficulty"}


def _a_user_and_scenario(database_url: str) -> tuple[str, int]:
    with psycopg.connect(database_url) as conn:
        user = conn.execute("select id from users order by id limit 1").fetchone()
        scenario = conn.execute("select id from scenarios order by id limit 1").fetchone()
    assert user and scenario
    return user[0], scenario[0]


def test_post_attempt_stores_it(sandbox: RunningSandbox) -> None:
    user_id, scenario_id = _a_user_and_scenario(sandbox.database_url)
    response = httpx.post(
        f"{sandbox.url}/api/attempts", json={"user_id": user_id, "scenario_id": scenario_id}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["started_at"] == sandbox.clock.now().isoformat()
    assert body["ended_at"] is None  # in progress
    finished = httpx.post(
        f"{sandbox.url}/api/attempts",
        json={"user_id": user_id, "scenario_id": scenario_id, "score": 87.5},
    )
    with psycopg.connect(sandbox.database_url) as conn:
        row = conn.execute(
            "select user_id, ended_at, score from scenario_attempts where id = %s",
            (finished.json()["id"],),
        ).fetchone()
    assert row is not None
    assert (row[0], row[1], float(row[2])) == (user_id, sandbox.clock.now(), 87.5)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"scenario_id": 1}, "user_id (text) is required"),
        ({"user_id": "user_x"}, "scenario_id (integer) is required"),
        (
            {"user_id": "user_x", "scenario_id": 1, "score": 101},
            "score must be a number from 0 to 100, not 101",
        ),
        ({"user_id": "user_nobody", "scenario_id": 1}, "unknown user_id 'user_nobody'"),
        ([1, 2], "body must be a JSON object"),
    ],
)
def test_post_attempt_rejects_bad_input(sandbox: RunningSandbox, body: object, error: str) -> None:
    response = httpx.post(f"{sandbox.url}/api/attempts", json=body)
    assert (response.status_code, response.json()) == (422, {"error": error})


def test_post_attempt_rejects_an_unknown_scenario(sandbox: RunningSandbox) -> None:
    user_id, _ = _a_user_and_scenario(sandbox.database_url)
    response = httpx.post(
        f"{sandbox.url}/api/attempts", json={"user_id": user_id, "scenario_id": 999999}
    )
    assert response.json() == {"error": "unknown scenario_id 999999"}


# --- webhooks -------------------------------------------------------------------------

BODY = json.dumps({"type": "user.created", "data": {"id": "user_1"}}).encode()


def _webhook_events(database_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as conn:
        return [
            (r[0], r[1])
            for r in conn.execute("select provider, event_type from webhook_events order by id")
        ]


def test_clerk_accepts_a_good_svix_signature(sandbox: RunningSandbox) -> None:
    now = int(sandbox.clock.now().timestamp())
    headers = svix_sign(sandbox.settings.clerk_webhook_secret, "msg_1", now, BODY)
    response = httpx.post(f"{sandbox.url}/api/webhooks/clerk", content=BODY, headers=headers)
    assert response.status_code == 200
    assert _webhook_events(sandbox.database_url) == [("clerk", "user.created")]


@pytest.mark.parametrize("tamper", ["missing", "wrong-secret", "stale", "body-changed"])
def test_clerk_rejects_bad_signatures(sandbox: RunningSandbox, tamper: str) -> None:
    now = int(sandbox.clock.now().timestamp())
    secret = sandbox.settings.clerk_webhook_secret
    body = BODY
    headers: dict[str, str] = svix_sign(secret, "msg_1", now, BODY)
    if tamper == "missing":
        headers = {}
    elif tamper == "wrong-secret":
        headers = svix_sign("whsec_" + "b3RoZXItc2VjcmV0", "msg_1", now, BODY)
    elif tamper == "stale":
        headers = svix_sign(secret, "msg_1", now - 301, BODY)
    else:
        body = BODY.replace(b"user_1", b"user_2")
    response = httpx.post(f"{sandbox.url}/api/webhooks/clerk", content=body, headers=headers)
    assert response.status_code == 401
    assert _webhook_events(sandbox.database_url) == []


def test_stripe_signature(sandbox: RunningSandbox) -> None:
    now = int(sandbox.clock.now().timestamp())
    secret = sandbox.settings.stripe_webhook_secret
    url = f"{sandbox.url}/api/webhooks/stripe"
    good = httpx.post(url, content=BODY, headers=stripe_sign(secret, now, BODY))
    assert good.status_code == 200
    assert httpx.post(url, content=BODY).status_code == 401
    forged = httpx.post(url, content=BODY, headers=stripe_sign("whsec_other", now, BODY))
    assert forged.status_code == 401
    stale = httpx.post(url, content=BODY, headers=stripe_sign(secret, now - 3600, BODY))
    assert stale.status_code == 401
    # The probe the seed prescribes: unsigned test payload -> 401, meaning "deployed".
    probe = httpx.post(url, json={"type": "test"})
    assert probe.status_code == 401


def test_vapi_shared_secret(sandbox: RunningSandbox) -> None:
    url = f"{sandbox.url}/api/webhooks/vapi"
    good = httpx.post(url, content=BODY, headers={"X-Vapi-Secret": sandbox.settings.vapi_secret})
    assert good.status_code == 200
    assert httpx.post(url, content=BODY, headers={"X-Vapi-Secret": "nope"}).status_code == 401
    assert httpx.post(url, content=BODY).status_code == 401


def test_unknown_webhook_route_is_404(sandbox: RunningSandbox) -> None:
    assert httpx.post(f"{sandbox.url}/api/webhooks/resend", content=BODY).status_code == 404


# --- fault switches -------------------------------------------------------------------


def set_fault(sandbox: RunningSandbox, name: str, value: object = None) -> httpx.Response:
    return httpx.put(
        f"{sandbox.url}/_sandbox/faults/{name}",
        json={"value": value},
        headers=sandbox.admin,
        timeout=30,
    )


def clear_fault(sandbox: RunningSandbox, name: str) -> httpx.Response:
    return httpx.delete(f"{sandbox.url}/_sandbox/faults/{name}", headers=sandbox.admin, timeout=30)


def test_fault_switches_need_the_admin_token(sandbox: RunningSandbox) -> None:
    url = f"{sandbox.url}/_sandbox/faults/health-500"
    assert httpx.put(url, json={"value": True}).status_code == 401
    assert (
        httpx.put(url, json={"value": True}, headers={"Authorization": "Bearer wrong"}).status_code
        == 401
    )
    assert httpx.get(f"{sandbox.url}/_sandbox/faults").status_code == 401
    assert httpx.get(f"{sandbox.url}/api/health").status_code == 200


def test_unknown_fault_and_bad_value(sandbox: RunningSandbox) -> None:
    unknown = set_fault(sandbox, "meltdown")
    assert unknown.status_code == 404
    assert "health-500" in unknown.json()["available"]
    bad = set_fault(sandbox, "error-rate", "lots")
    assert (bad.status_code, bad.json()) == (
        422,
        {"error": "error-rate: 'lots' is not a share (use 0.25 or 25%)"},
    )


def test_health_500_fault(sandbox: RunningSandbox) -> None:
    assert set_fault(sandbox, "health-500").json() == {"name": "health-500", "value": True}
    assert httpx.get(f"{sandbox.url}/api/health").status_code == 500
    clear_fault(sandbox, "health-500")
    assert httpx.get(f"{sandbox.url}/api/health").status_code == 200


def test_latency_fault(sandbox: RunningSandbox) -> None:
    set_fault(sandbox, "latency", 300)
    slow = httpx.get(f"{sandbox.url}/api/version")
    assert slow.elapsed.total_seconds() >= 0.3
    clear_fault(sandbox, "latency")
    assert httpx.get(f"{sandbox.url}/api/version").elapsed.total_seconds() < 0.3


def test_wrong_version_fault(sandbox: RunningSandbox) -> None:
    set_fault(sandbox, "wrong-version", "0badc0de")
    assert httpx.get(f"{sandbox.url}/api/version").json() == {"commit": "0badc0de"}


def test_webhook_404_fault(sandbox: RunningSandbox) -> None:
    set_fault(sandbox, "webhook-404", "clerk,stripe")
    assert httpx.post(f"{sandbox.url}/api/webhooks/clerk", json={"type": "test"}).status_code == 404
    assert (
        httpx.post(f"{sandbox.url}/api/webhooks/stripe", json={"type": "test"}).status_code == 404
    )
    assert httpx.post(f"{sandbox.url}/api/webhooks/vapi", json={"type": "test"}).status_code == 401
    bad = set_fault(sandbox, "webhook-404", "paypal")
    assert bad.status_code == 422


def test_error_rate_fault_fails_that_share_of_pages(sandbox: RunningSandbox) -> None:
    set_fault(sandbox, "error-rate", "30%")
    with httpx.Client() as client:
        codes = [client.get(f"{sandbox.url}/sign-in").status_code for _ in range(300)]
        health = client.get(f"{sandbox.url}/api/health").status_code
    failures = codes.count(503)
    assert set(codes) == {200, 503}
    assert 60 <= failures <= 120  # 30% of 300, seeded randomness
    assert health == 200  # the health endpoint is not a page
    set_fault(sandbox, "error-rate", 1)
    assert httpx.get(f"{sandbox.url}/api/scenarios").status_code == 503


def _sandbox_backends(database_url: str, state: str) -> int:
    dbname = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url, application_name="tests") as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity"
            " where datname = %s and application_name = 'sandbox' and state = %s",
            (dbname, state),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_leak_connections_fault_holds_idle_connections(sandbox: RunningSandbox) -> None:
    set_fault(sandbox, "leak-connections", 12)
    assert _sandbox_backends(sandbox.database_url, "idle") == 12
    # A closed connection's backend leaves pg_stat_activity a moment after the client
    # hangs up, so the smaller counts are waited for, not read at once.
    set_fault(sandbox, "leak-connections", 5)
    wait_for(lambda: _sandbox_backends(sandbox.database_url, "idle") == 5)
    clear_fault(sandbox, "leak-connections")
    wait_for(lambda: _sandbox_backends(sandbox.database_url, "idle") == 0)


def test_long_query_fault_runs_until_switched_off(sandbox: RunningSandbox) -> None:
    set_fault(sandbox, "long-query", 600)
    wait_for(lambda: _sandbox_backends(sandbox.database_url, "active") == 1)
    with psycopg.connect(sandbox.database_url) as conn:
        row = conn.execute(
            "select query from pg_stat_activity where application_name = 'sandbox'"
            " and state = 'active'"
        ).fetchone()
    assert row is not None and "pg_sleep" in row[0]
    clear_fault(sandbox, "long-query")
    wait_for(lambda: _sandbox_backends(sandbox.database_url, "active") == 0)


def test_auth_broken_fault(sandbox: RunningSandbox) -> None:
    set_fault(sandbox, "auth-broken", "on")
    api = httpx.get(f"{sandbox.url}/api/scenarios")
    assert (api.status_code, api.json()) == (401, {"error": "Session expired"})
    page = httpx.get(f"{sandbox.url}/dashboard")
    assert page.status_code == 401 and "Session expired" in page.text
    assert httpx.get(f"{sandbox.url}/sign-in").status_code == 401
    assert httpx.post(f"{sandbox.url}/api/webhooks/clerk", json={"type": "test"}).status_code == 500
    assert httpx.get(f"{sandbox.url}/api/health").status_code == 200
    clear_fault(sandbox, "auth-broken")
    assert httpx.get(f"{sandbox.url}/dashboard").status_code == 200


def test_listing_and_clearing_all_faults(sandbox: RunningSandbox) -> None:
    set_fault(sandbox, "health-500")
    set_fault(sandbox, "leak-connections", 3)
    set_fault(sandbox, "long-query", 600)
    listing = httpx.get(f"{sandbox.url}/_sandbox/faults", headers=sandbox.admin).json()
    assert listing["faults"] == {"health-500": True, "leak-connections": 3, "long-query": 600}
    assert len(listing["available"]) == 13  # with the fake Vercel API's three
    wait_for(lambda: _sandbox_backends(sandbox.database_url, "active") == 1)
    httpx.delete(f"{sandbox.url}/_sandbox/faults", headers=sandbox.admin, timeout=30)
    assert httpx.get(f"{sandbox.url}/_sandbox/faults", headers=sandbox.admin).json()["faults"] == {}
    # Every side effect is gone: the held connections and the runaway query.
    wait_for(lambda: _sandbox_backends(sandbox.database_url, "idle") == 0)
    wait_for(lambda: _sandbox_backends(sandbox.database_url, "active") == 0)
    assert httpx.get(f"{sandbox.url}/api/health").status_code == 200


# --- leak-connections within bounds ---------------------------------------------------

SMALL_CAP = 30 - 3 - 10  # max_connections less superuser_reserved_connections less headroom


@pytest.fixture(scope="module")
def small_cluster() -> Iterator[TempCluster]:
    """A server with max_connections 30, so that the fault's cap is small enough to reach."""
    cluster = TempCluster.start(settings={"max_connections": "30"})
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def small_sandbox(small_cluster: TempCluster) -> Iterator[RunningSandbox]:
    """The sandbox on the small server (an empty database: the faults need no tables)."""
    name = f"leaks_{os.getpid()}"
    url = small_cluster.create_database(name)
    settings = SandboxSettings(database_url=url)
    server = BackgroundServer(create_app(settings)).start()
    try:
        yield RunningSandbox(server.url, url, settings, FrozenClock(T0))
    finally:
        server.stop()
        small_cluster.drop_database(name)


def _faults_on(sandbox: RunningSandbox) -> object:
    return httpx.get(f"{sandbox.url}/_sandbox/faults", headers=sandbox.admin).json()["faults"]


def test_leak_connections_is_capped_by_what_the_server_can_spare(
    small_sandbox: RunningSandbox,
) -> None:
    sandbox = small_sandbox
    huge = set_fault(sandbox, "leak-connections", 100000)
    assert (huge.status_code, huge.json()) == (
        422,
        {
            "error": f"leak-connections: 100000 is more than {SMALL_CAP}, the most this fault"
            " holds here (max_connections 30 less 3 reserved and 10 kept free;"
            " never more than 500)"
        },
    )
    wait_for(lambda: _sandbox_backends(sandbox.database_url, "idle") == 0)  # nothing leaked
    assert _faults_on(sandbox) == {}
    assert set_fault(sandbox, "leak-connections", SMALL_CAP).status_code == 200
    wait_for(lambda: _sandbox_backends(sandbox.database_url, "idle") == SMALL_CAP)
    over = set_fault(sandbox, "leak-connections", SMALL_CAP + 1)
    assert over.status_code == 422
    assert f"{SMALL_CAP + 1} is more than {SMALL_CAP}" in over.json()["error"]
    wait_for(lambda: _sandbox_backends(sandbox.database_url, "idle") == SMALL_CAP)
    assert _faults_on(sandbox) == {"leak-connections": SMALL_CAP}
    httpx.delete(f"{sandbox.url}/_sandbox/faults", headers=sandbox.admin, timeout=30)
    wait_for(lambda: _sandbox_backends(sandbox.database_url, "idle") == 0)


def test_a_leak_the_database_refuses_midway_keeps_nothing_new(
    pg_cluster: TempCluster, sandbox_db: str
) -> None:
    """A role allowed 3 connections: asked for 10, the sandbox is refused midway, closes
    the ones it opened for the request and keeps the 2 it held; clearing frees those."""
    role = f"leaky_{os.getpid()}"
    pg_cluster.create_role(role)
    with psycopg.connect(pg_cluster.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT 3").format(sql.Identifier(role)))
    dbname = sandbox_db.rsplit("/", 1)[1]
    settings = SandboxSettings(database_url=pg_cluster.url(dbname, user=role))
    server = BackgroundServer(create_app(settings)).start()
    sandbox = RunningSandbox(server.url, sandbox_db, settings, FrozenClock(T0))
    try:
        assert set_fault(sandbox, "leak-connections", 2).status_code == 200
        refused = set_fault(sandbox, "leak-connections", 10)
        assert refused.status_code == 503
        error = refused.json()["error"]
        assert "leak-connections: the database refused connection" in error
        assert "too many connections for role" in error
        assert " of 10 (" in error and error.endswith("; 2 are held, as before")
        wait_for(lambda: _sandbox_backends(sandbox.database_url, "idle") == 2)
        assert _faults_on(sandbox) == {"leak-connections": 2}
        httpx.delete(f"{sandbox.url}/_sandbox/faults", headers=sandbox.admin, timeout=30)
        wait_for(lambda: _sandbox_backends(sandbox.database_url, "idle") == 0)
    finally:
        server.stop()
        with psycopg.connect(pg_cluster.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_stopping_the_server_releases_leaked_connections(sandbox_db: str) -> None:
    settings = SandboxSettings(database_url=sandbox_db)
    server = BackgroundServer(create_app(settings, rng=random.Random(1))).start()
    httpx.put(
        f"{server.url}/_sandbox/faults/leak-connections",
        json={"value": 4},
        headers={"Authorization": f"Bearer {settings.admin_token}"},
    )
    assert _sandbox_backends(sandbox_db, "idle") == 4
    server.stop()
    wait_for(lambda: _sandbox_backends(sandbox_db, "idle") == 0)


STATUSPAGE_COMPONENT_FIELDS = {
    "id",
    "name",
    "status",
    "description",
    "position",
    "group",
    "group_id",
    "showcase",
    "start_date",
    "only_show_if_degraded",
    "page_id",
    "created_at",
    "updated_at",
}
STATUSPAGE_INCIDENT_FIELDS = {
    "id",
    "name",
    "status",
    "impact",
    "shortlink",
    "page_id",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "incident_updates",
}


def test_provider_status_pages_follow_statuspage_v2(sandbox: RunningSandbox) -> None:
    url = f"{sandbox.url}/_providers/supabase/api/v2/summary.json"
    calm = httpx.get(url).json()
    assert set(calm) == {"page", "status", "components", "incidents", "scheduled_maintenances"}
    assert calm["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert all(set(c) == STATUSPAGE_COMPONENT_FIELDS for c in calm["components"])
    assert {c["status"] for c in calm["components"]} == {"operational"}
    assert calm["incidents"] == []
    # A provider outage is independent of the app's own faults (latency does not apply).
    set_fault(sandbox, "latency", 3000)
    set_fault(sandbox, "provider-outage", "supabase")
    broken = httpx.get(url, timeout=2).json()
    assert broken["status"]["indicator"] == "major"
    [incident] = broken["incidents"]
    assert set(incident) == STATUSPAGE_INCIDENT_FIELDS
    assert (incident["status"], incident["impact"]) == ("investigating", "major")
    assert incident["created_at"] == "2026-03-02T09:30:00.000Z"  # when the fault went on
    [update] = incident["incident_updates"]
    assert update["affected_components"][0]["new_status"] == "major_outage"
    assert "major_outage" in {c["status"] for c in broken["components"]}
    # Other providers stay calm; unknown ones are 404 like a missing page.
    vercel = httpx.get(f"{sandbox.url}/_providers/vercel/api/v2/summary.json", timeout=2)
    assert vercel.json()["status"]["indicator"] == "none"
    assert httpx.get(f"{sandbox.url}/_providers/acme/api/v2/summary.json").status_code == 404
    assert set_fault(sandbox, "provider-outage", "acme").status_code == 422
    httpx.delete(f"{sandbox.url}/_sandbox/faults/provider-outage", headers=sandbox.admin)
    assert httpx.get(url, timeout=2).json()["incidents"] == []
