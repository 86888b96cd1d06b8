"""`opsbook serve` as a real process against the sandbox, and the Alertmanager receiver."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import load_config
from opsbook.postgres.cluster import free_port
from opsbook.serving import BackgroundServer
from opsbook.store import open_store
from opsbook.web.app import create_app
from tests.conftest import RunningSandbox, wait_for

TOKEN = "am-token-123456"


def _config(tmp_path: Path, sandbox: RunningSandbox, store_url: str | None = None) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text(f"""\
store:
  url: {store_url or f"sqlite:///{tmp_path / 'opsbook.db'}"}
alertmanager:
  token: {TOKEN}
checks:
  - name: health
    kind: http
    url: {sandbox.url}/api/health
    interval: 1s
    timeout: 15s  # a loaded machine answers late: only the fault may open the P0
    component: app
    severity: P0
    runbook: p0-outage
    expect: {{json: ['status == "ok"']}}
""")
    return path


def _status(config: Path) -> Any:
    result = CliRunner().invoke(app, ["--config", str(config), "status", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
def test_serve_notices_a_fault_and_opens_the_p0(tmp_path: Path, sandbox: RunningSandbox) -> None:
    config = _config(tmp_path, sandbox)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "opsbook", "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ},
    )
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=90)
        wait_for(lambda: any(c["state"] == "ok" for c in _status(config)["checks"]))
        httpx.put(
            f"{sandbox.url}/_sandbox/faults/health-500", json={"value": True}, headers=sandbox.admin
        )
        wait_for(lambda: bool(_status(config)["incidents"]), timeout=30)
        status = _status(config)
        [incident] = status["incidents"]
        assert (incident["severity"], incident["status"]) == ("P0", "open")
        assert "expected status 200, got 500" in incident["title"]
        [alert] = status["alerts"]
        assert (alert["rule"], alert["state"]) == ("check:health", "firing")
        shown = CliRunner().invoke(
            app, ["--config", str(config), "incident", "show", str(incident["id"]), "--json"]
        )
        kinds = [e["kind"] for e in json.loads(shown.stdout)["timeline"]]
        assert kinds[:3] == ["opened", "alert", "runbook.suggested"]
        httpx.delete(f"{sandbox.url}/_sandbox/faults/health-500", headers=sandbox.admin)
        wait_for(lambda: not _status(config)["alerts"], timeout=30)
        assert _status(config)["incidents"]  # the incident stays for a human to resolve
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "stopped" in output
    assert re.search(r"Z INFO RESOLVED check:health: GET .*: 200", output), output
    # Each transition is one timestamped line on serve's output.
    assert re.search(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO FIRING check:health \(crit\) -> opened "
        r"incident #1 P0: GET .*expected status 200, got 500",
        output,
    ), output
    assert not _answers(f"http://127.0.0.1:{port}/healthz")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def receiver(tmp_path: Path, sandbox: RunningSandbox) -> Iterator[str]:
    config = load_config(_config(tmp_path, sandbox))
    store = open_store(config.store.url.reveal())
    server = BackgroundServer(
        create_app(config, store, clock=FrozenClock(), schedule=False)
    ).start()
    yield server.url
    server.stop()
    store.close()


def payload(status: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "opsbook",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"service": "api"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def am_alert(status: str, instance: str, severity: str = "critical") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": "HighErrorRate",
            "instance": instance,
            "severity": severity,
            "service": "api",
        },
        "annotations": {"summary": f"5xx above 5% on {instance}"},
        "startsAt": "2026-03-02T09:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": f"fp-{instance}",
    }


def test_alertmanager_firing_then_resolved(
    receiver: str, tmp_path: Path, sandbox: RunningSandbox
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    fired = httpx.post(
        f"{receiver}/api/v1/alertmanager",
        headers=headers,
        json=payload("firing", am_alert("firing", "web-1"), am_alert("firing", "web-2")),
    )
    assert fired.status_code == 200 and fired.json()["states"] == {"firing": 2}
    status = _status(tmp_path / "opsbook.yaml")
    assert len(status["alerts"]) == 2
    [incident] = status["incidents"]  # one group, one incident
    assert incident["severity"] == "P1" and incident["title"] == "5xx above 5% on web-1"
    again = httpx.post(
        f"{receiver}/api/v1/alertmanager",
        headers=headers,
        json=payload("firing", am_alert("firing", "web-1")),
    )
    assert again.json()["states"] == {"firing": 1}
    assert len(_status(tmp_path / "opsbook.yaml")["alerts"]) == 2  # no duplicate
    resolved = httpx.post(
        f"{receiver}/api/v1/alertmanager",
        headers=headers,
        json=payload("resolved", am_alert("resolved", "web-1"), am_alert("resolved", "web-2")),
    )
    assert resolved.json()["states"] == {"resolved": 2}
    assert _status(tmp_path / "opsbook.yaml")["alerts"] == []


def test_alertmanager_needs_the_token_and_a_real_payload(receiver: str) -> None:
    url = f"{receiver}/api/v1/alertmanager"
    body = payload("firing", am_alert("firing", "web-1"))
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    bad = httpx.post(url, json={"version": "3"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert bad.status_code == 400 and bad.json()["error"] == "not an Alertmanager v4 payload"


def _health_runs(config: Path) -> int:
    """How many runs of the health check the store holds (its history counts every one)."""
    result = CliRunner().invoke(app, ["--config", str(config), "history", "--json"])
    assert result.exit_code == 0, result.output
    [health] = json.loads(result.stdout)["checks"]
    return int(health["runs"])


def _wait_for_more_runs(config: Path, more: int) -> None:
    target = _health_runs(config) + more
    wait_for(lambda: _health_runs(config) >= target, timeout=30)


def _serve(config: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "opsbook", "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_serve_killed_at_any_moment_leaves_one_alert_and_one_incident(
    tmp_path: Path, sandbox: RunningSandbox, store_url: str
) -> None:
    """SIGKILL while checks run, alerts fire and incidents open: after every restart the
    outage is still one firing alert on one P0 whose timeline is whole (on both stores)."""
    config = _config(tmp_path, sandbox, store_url)
    httpx.put(
        f"{sandbox.url}/_sandbox/faults/health-500", json={"value": True}, headers=sandbox.admin
    )
    rng = random.Random(7)
    port = free_port()
    for _ in range(3):
        server = _serve(config, port)
        try:
            wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=90)
            # Killed right after it answers, or once it has stored one or two more runs.
            _wait_for_more_runs(config, rng.randint(0, 2))
        finally:
            server.kill()
            server.communicate(timeout=30)
    server = _serve(config, port)
    try:
        wait_for(lambda: bool(_status(config)["incidents"]), timeout=30)
        _wait_for_more_runs(config, 2)  # more runs of the failing check after the restart
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    status = _status(config)
    [incident] = status["incidents"]
    [alert] = status["alerts"]
    assert (alert["rule"], alert["state"], alert["incident_id"]) == (
        "check:health",
        "firing",
        incident["id"],
    )
    shown = CliRunner().invoke(
        app, ["--config", str(config), "incident", "show", str(incident["id"]), "--json"]
    )
    kinds = [e["kind"] for e in json.loads(shown.stdout)["timeline"]]
    assert kinds == ["opened", "alert", "runbook.suggested"]
    history = CliRunner().invoke(app, ["--config", str(config), "history", "--json"])
    [health] = json.loads(history.stdout)["checks"]
    assert health["runs"] >= 3 and health["down"] == health["runs"]
