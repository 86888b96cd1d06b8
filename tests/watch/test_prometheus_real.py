"""The prometheus check against a real Prometheus (Debian's /usr/bin/prometheus) scraping
two targets every second: one a live /metrics page, one a port nobody listens on, so
`up` has a series at 1 and a series at 0. One Prometheus serves the whole module."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.postgres.cluster import free_port
from opsbook.serving import BackgroundServer
from opsbook.watch.result import CheckResult
from opsbook.watch.runner import run_checks
from tests.conftest import wait_for
from tests.watch.test_prometheus import strict_loads

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(PROMETHEUS).exists(), reason="the prometheus binary is not installed"
    ),
]


@dataclass(frozen=True)
class RealPrometheus:
    url: str
    live: str  # instance labels of the two targets
    dead: str


def _metrics_app() -> FastAPI:
    metrics = FastAPI()

    @metrics.get("/metrics")
    def page() -> PlainTextResponse:
        return PlainTextResponse("# TYPE app_queue_depth gauge\napp_queue_depth 3\n")

    return metrics


def _up_series(url: str) -> int:
    try:
        answer = httpx.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return 0
    return len(answer.get("data", {}).get("result", []))


@contextlib.contextmanager
def running_prometheus(folder: Path, scrape_configs: list[dict[str, Any]]) -> Iterator[str]:
    """Prometheus scraping every second, until the block ends; yields its URL (the caller
    waits for the series it needs)."""
    config = folder / "prometheus.yml"
    config.write_text(
        json.dumps(  # YAML reads JSON
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "500ms"},
                "scrape_configs": scrape_configs,
            }
        )
    )
    port = free_port()
    with (folder / "prometheus.log").open("w") as log:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealPrometheus]:
    folder = tmp_path_factory.mktemp("prometheus")
    target = BackgroundServer(_metrics_app()).start()
    live, dead = target.url.removeprefix("http://"), f"127.0.0.1:{free_port()}"
    jobs = [{"job_name": "node", "static_configs": [{"targets": [live, dead]}]}]
    try:
        with running_prometheus(folder, jobs) as url:
            wait_for(lambda: _up_series(url) == 2, timeout=60)
            yield RealPrometheus(url, live, dead)
    finally:
        target.stop()


def run(prom: RealPrometheus, clock: FrozenClock, query: str, **fields: Any) -> CheckResult:
    check = {"name": "c", "kind": "prometheus", "url": prom.url, "query": query, "metric": "up"}
    config = Config.model_validate({"checks": [{**check, **fields}]})
    [result] = asyncio.run(run_checks(config, config.checks, clock=clock))
    return result


def test_the_down_target_decides_and_is_named(
    prometheus: RealPrometheus, clock: FrozenClock
) -> None:
    result = run(prometheus, clock, "up", crit=1, direction="below")
    assert result.state == "down"
    assert result.summary == (
        f'up{{instance="{prometheus.dead}",job="node"}} = 0 (below crit 1) (1 of 2 series failing)'
    )
    assert result.metrics == {"up": 0.0}
    healthy = run(prometheus, clock, "up")
    assert healthy.state == "ok" and healthy.summary.startswith("2 series ok")


def test_an_alert_query_fires_per_series(prometheus: RealPrometheus, clock: FrozenClock) -> None:
    firing = run(prometheus, clock, "up == 0", on_empty="ok")
    assert firing.state == "down"
    assert firing.summary.startswith(f'up{{instance="{prometheus.dead}",job="node"}} = 0 (firing')
    quiet = run(prometheus, clock, "up > 1", on_empty="ok")
    assert quiet.state == "ok" and "no data" in quiet.summary
    assert run(prometheus, clock, "up > 1").state == "degraded"  # the default, as before
    assert run(prometheus, clock, "up > 1", on_empty="down").state == "down"


def test_aggregates(prometheus: RealPrometheus, clock: FrozenClock) -> None:
    assert run(prometheus, clock, "up", aggregate="all", crit=1, direction="below").state == "down"
    anyone = run(prometheus, clock, "up", aggregate="any", crit=1, direction="below")
    assert anyone.state == "ok" and anyone.metrics == {"up": 1.0}
    total = run(prometheus, clock, "up", aggregate="sum")
    assert total.summary == "sum(up) over 2 series = 1"


@pytest.mark.parametrize(("query", "shown"), [("0/0", "NaN"), ("1/0", "+Inf"), ("-1/0", "-Inf")])
def test_nan_and_infinities(
    prometheus: RealPrometheus, clock: FrozenClock, query: str, shown: str
) -> None:
    result = run(prometheus, clock, query)
    assert result.state == "error"
    assert result.summary.startswith(f"up = {shown} (")
    assert result.metrics == {}


def test_a_nan_series_among_healthy_ones(prometheus: RealPrometheus, clock: FrozenClock) -> None:
    result = run(prometheus, clock, "up / up")  # 1/1 for the live target, 0/0 for the dead one
    assert result.state == "error"
    assert result.summary.startswith(f'up{{instance="{prometheus.dead}",job="node"}} = NaN')


def test_strings_range_vectors_and_bad_queries(
    prometheus: RealPrometheus, clock: FrozenClock
) -> None:
    text = run(prometheus, clock, '"hello"')
    assert text.state == "error" and "returned a string ('hello'), not a number" in text.summary
    matrix = run(prometheus, clock, "up[1m]")
    assert matrix.state == "error" and "range vector" in matrix.summary
    broken = run(prometheus, clock, "rate(")
    assert broken.state == "error" and "parse error" in broken.summary


def test_check_json_from_a_real_nan_is_strict_json(
    prometheus: RealPrometheus, tmp_path: Path
) -> None:
    check = {"name": "ratio", "kind": "prometheus", "url": prometheus.url}
    config = tmp_path / "opsbook.yaml"
    config.write_text(
        json.dumps(
            {
                "store": {"url": f"sqlite:///{tmp_path / 's.db'}"},
                "checks": [{**check, "query": "0/0", "metric": "ratio"}],
            }
        )
    )
    result = CliRunner().invoke(app, ["--config", str(config), "check", "--json"])
    assert result.exit_code == 1
    [document] = strict_loads(result.stdout)
    assert document["state"] == "error"
    assert document["details"]["series"] == [{"labels": {}, "value": None, "state": "error"}]
