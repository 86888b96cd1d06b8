"""A real Prometheus (Debian's 2.42) scrapes opsbook's /metrics with the bearer token, and
the values come back through its HTTP API, hostile check names intact; the same target
scraped without the token is down (401)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from opsbook.clock import FrozenClock
from opsbook.incidents import service as incidents
from opsbook.postgres.cluster import free_port
from opsbook.serving import BackgroundServer
from opsbook.store import open_store
from opsbook.watch import service
from opsbook.web.app import create_app
from tests.conftest import wait_for
from tests.metrics.test_metrics import HOSTILE, TOKEN, metrics_config, result
from tests.watch.test_prometheus_real import PROMETHEUS

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


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Prometheus scraping `target` (set by the test through the returned starter)."""
    started: list[tuple[subprocess.Popen[bytes], IO[str]]] = []

    def start(target: str) -> str:
        config = tmp_path / "prometheus.yml"
        jobs: list[dict[str, Any]] = [
            {"job_name": "opsbook", "authorization": {"credentials": TOKEN}},
            {"job_name": "no-token"},
        ]
        scrape: dict[str, Any] = {"static_configs": [{"targets": [target]}]}
        config.write_text(  # YAML reads JSON
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "900ms"},
                    "scrape_configs": [job | scrape for job in jobs],
                }
            )
        )
        port = free_port()
        log = (tmp_path / "prometheus.log").open("w")
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append((process, log))
        return f"http://127.0.0.1:{port}"

    yield start
    for process, log in started:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_prometheus_scrapes_opsbook_with_the_token(
    store_url: str, clock: FrozenClock, prometheus: Callable[[str], str]
) -> None:
    config = metrics_config(store_url)
    store = open_store(store_url)
    server = BackgroundServer(create_app(config, store, clock=clock, schedule=False)).start()
    try:
        service.process_results(store, config, [result(HOSTILE, "down", clock, 40.0)], clock=clock)
        with store.session() as session:
            incidents.open_incident(session, title="x", severity="P1", actor="t", clock=clock)
        url = prometheus(server.url.removeprefix("http://"))
        query = 'opsbook_incidents_open{job="opsbook",severity="P1"}'
        wait_for(lambda: len(_query(url, query)) == 1, timeout=60)
        [p1] = _query(url, query)
        assert p1["value"][1] == "1"
        [down] = _query(url, 'opsbook_check_state{state="down"} == 1')
        assert down["metric"]["check"] == HOSTILE  # quotes, backslash, newline, markup intact
        [latency] = _query(url, "opsbook_check_latency_seconds")
        assert latency["value"][1] == "0.04"
        wait_for(lambda: "no-token" in {r["metric"]["job"] for r in _query(url, "up")})
        ups = {r["metric"]["job"]: r["value"][1] for r in _query(url, "up")}
        assert ups == {"opsbook": "1", "no-token": "0"}  # 401: the target is down to it
    finally:
        server.stop()
        store.close()
