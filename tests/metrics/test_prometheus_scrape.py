"""A real Prometheus (Debian's 2.42) scrapes opsbook's /metrics with the bearer token, and
the values come back through its HTTP API, hostile check names intact; the same target
scraped without the token is down (401)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from opsbook.clock import FrozenClock
from opsbook.incidents import service as incidents
from opsbook.serving import BackgroundServer
from opsbook.store import open_store
from opsbook.watch import service
from opsbook.web.app import create_app
from tests.conftest import wait_for
from tests.metrics.test_metrics import HOSTILE, TOKEN, metrics_config, result
from tests.watch.test_prometheus_real import PROMETHEUS, running_prometheus

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(PROMETHEUS).exists(), reason="the prometheus binary is not installed"
    ),
]


def _query(url: str, query: str) -> list[dict[str, Any]]:
    try:
        answer = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return []
    found: list[dict[str, Any]] = answer.get("data", {}).get("result", [])
    return found


def test_prometheus_scrapes_opsbook_with_the_token(
    store_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    config = metrics_config(store_url)
    store = open_store(store_url)
    server = BackgroundServer(create_app(config, store, clock=clock, schedule=False)).start()
    target = {"static_configs": [{"targets": [server.url.removeprefix("http://")]}]}
    jobs: list[dict[str, Any]] = [
        {"job_name": "opsbook", "authorization": {"credentials": TOKEN}, **target},
        {"job_name": "no-token", **target},
    ]
    try:
        service.process_results(store, config, [result(HOSTILE, "down", clock, 40.0)], clock=clock)
        with store.session() as session:
            incidents.open_incident(session, title="x", severity="P1", actor="t", clock=clock)
        with running_prometheus(tmp_path, jobs) as url:
            query = 'opsbook_incidents_open{job="opsbook",severity="P1"}'
            wait_for(lambda: len(_query(url, query)) == 1, timeout=60)
            [p1] = _query(url, query)
            assert p1["value"][1] == "1"
            [down] = _query(url, 'opsbook_check_state{state="down"} == 1')
            assert down["metric"]["check"] == HOSTILE  # quotes, backslash, newline intact
            [latency] = _query(url, "opsbook_check_latency_seconds")
            assert latency["value"][1] == "0.04"
            wait_for(lambda: "no-token" in {r["metric"]["job"] for r in _query(url, "up")})
            ups = {r["metric"]["job"]: r["value"][1] for r in _query(url, "up")}
            assert ups == {"opsbook": "1", "no-token": "0"}  # 401: the target is down to it
    finally:
        server.stop()
        store.close()
