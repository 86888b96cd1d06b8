"""Debian's real Alertmanager (0.25) sending its webhook to a real `opsbook serve`: alerts
fired and resolved through Alertmanager's own API become incidents, raise them, and one
Alertmanager group stays one incident (issue #12)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.postgres.cluster import free_port
from tests.conftest import wait_for
from tests.web.test_serve import _answers, _serve

ALERTMANAGER = shutil.which("prometheus-alertmanager")
TOKEN = "am-token-123456"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        ALERTMANAGER is None,
        reason="Debian's prometheus-alertmanager is not installed (scripts/ensure-system)",
    ),
]


@dataclass
class Peers:
    alertmanager: str
    config: Path
    serve: subprocess.Popen[str]


def _am_config(serve_port: int) -> str:
    # Short waits so a notification follows an alert within a second or two.
    return f"""\
route:
  receiver: opsbook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: opsbook
    webhook_configs:
      - url: http://127.0.0.1:{serve_port}/api/v1/alertmanager
        send_resolved: true
        http_config:
          authorization: {{type: Bearer, credentials: {TOKEN}}}
"""


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Peers]:
    config = tmp_path / "opsbook.yaml"
    config.write_text(
        f"store: {{url: 'sqlite:///{tmp_path / 'opsbook.db'}'}}\nalertmanager: {{token: {TOKEN}}}\n"
    )
    serve_port, am_port = free_port(), free_port()
    (tmp_path / "alertmanager.yml").write_text(_am_config(serve_port))
    serve = _serve(config, serve_port)
    assert ALERTMANAGER is not None
    manager = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",  # one instance: no gossip port
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{am_port}"
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{serve_port}/healthz"), timeout=90)
        wait_for(lambda: _answers(f"{url}/-/ready"), timeout=60)
        yield Peers(url, config, serve)
    finally:
        manager.terminate()
        manager.wait(timeout=30)
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            serve.communicate(timeout=30)


def fire(peers: Peers, name: str, *, resolved: bool = False, **labels: str) -> None:
    """Post one alert to Alertmanager's v2 API; resolved means it ended a minute ago."""
    now = dt.datetime.now(dt.UTC)  # Alertmanager's time, not opsbook's
    ends = now - dt.timedelta(minutes=1) if resolved else now + dt.timedelta(hours=1)
    body = [
        {
            "labels": {"alertname": name, **labels},
            "annotations": {"summary": f"{name} on {labels.get('service', '-')}"},
            "startsAt": (now - dt.timedelta(minutes=5)).isoformat(),
            "endsAt": ends.isoformat(),
        }
    ]
    answer = httpx.post(f"{peers.alertmanager}/api/v2/alerts", json=body, timeout=10)
    assert answer.status_code == 200, answer.text


def status(peers: Peers) -> Any:
    result = CliRunner().invoke(app, ["--config", str(peers.config), "status", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def incidents(peers: Peers) -> list[tuple[int, str, str]]:
    result = CliRunner().invoke(app, ["--config", str(peers.config), "incident", "list", "--json"])
    assert result.exit_code == 0, result.output
    return sorted((i["id"], i["severity"], i["component"]) for i in json.loads(result.stdout))


def test_real_alertmanager_opens_raises_groups_and_resolves(peers: Peers) -> None:
    # A warning opens a P2 on checkout; a critical alert of another group on the same
    # service joins it and raises it to P1.
    fire(peers, "SlowQueries", service="checkout", severity="warning")
    wait_for(lambda: incidents(peers) == [(1, "P2", "checkout")], timeout=30)
    fire(peers, "CheckoutDown", service="checkout", severity="critical")
    wait_for(lambda: incidents(peers) == [(1, "P1", "checkout")], timeout=30)
    # One group (group_by: [alertname]) whose common labels shrink as service=b joins:
    # still one incident, named by a service, never by Alertmanager's group key.
    fire(peers, "GrpAlert", service="a", team="grp", severity="critical")
    wait_for(lambda: len(incidents(peers)) == 2, timeout=30)
    fire(peers, "GrpAlert", service="b", team="grp", severity="critical")
    wait_for(lambda: len(status(peers)["alerts"]) == 4, timeout=30)
    assert incidents(peers) == [(1, "P1", "checkout"), (2, "P1", "a")]
    by_rule = sorted((a["rule"], a["incident_id"]) for a in status(peers)["alerts"])
    assert by_rule == [
        ("alertmanager:CheckoutDown", 1),
        ("alertmanager:GrpAlert", 2),
        ("alertmanager:GrpAlert", 2),
        ("alertmanager:SlowQueries", 1),
    ]
    # Resolved through Alertmanager's API: each resolved notification ends its alert.
    fire(peers, "SlowQueries", resolved=True, service="checkout", severity="warning")
    fire(peers, "CheckoutDown", resolved=True, service="checkout", severity="critical")
    fire(peers, "GrpAlert", resolved=True, service="a", team="grp", severity="critical")
    fire(peers, "GrpAlert", resolved=True, service="b", team="grp", severity="critical")
    wait_for(lambda: status(peers)["alerts"] == [], timeout=30)
    assert [i[1:] for i in incidents(peers)] == [("P1", "checkout"), ("P1", "a")]  # for a human
    peers.serve.send_signal(signal.SIGTERM)
    output, _ = peers.serve.communicate(timeout=30)
    assert (
        "FIRING alertmanager:CheckoutDown (crit) -> attached to incident #1 P1 (raised from P2)"
        in output
    )
    assert "alertmanager:{" not in output and "Traceback" not in output, output
