"""The outbox worker inside real `opsbook serve` processes: killed mid-delivery it loses
nothing and repeats the dedup key; two of them on one PostgreSQL store never send one
message twice."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import SYSTEM_CLOCK
from opsbook.config import load_config
from opsbook.incidents import service as incidents
from opsbook.notify import service as notify
from opsbook.postgres.cluster import free_port
from opsbook.store import open_store
from tests.conftest import wait_for
from tests.notify.conftest import channels_yaml
from tests.notify.fakes import FakePagerDuty, FakeSlack

runner = CliRunner()


def _config(
    tmp_path: Path,
    store_url: str,
    slack: FakeSlack,
    pagerduty: FakePagerDuty,
    *,
    lease: str = "2s",
) -> Path:
    """A short lease by default, so a message a killed serve held is soon sent again (at
    least twice the channels' 1s timeout, which a loaded machine still answers within)."""
    path = tmp_path / "opsbook.yaml"
    channels = channels_yaml(slack, pagerduty)
    path.write_text(
        f"project: shop\nstore:\n  url: {store_url}\n"
        "notify:\n"
        f"  outbox: {{lease: {lease}, poll_every: 50ms, backoff: 100ms, backoff_max: 1s}}\n"
        f"  channels:\n{channels}"
    )
    return path


def _serve(config: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "opsbook", "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=90)
    return process, port


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    return output


def _outbox(config: Path) -> list[dict[str, object]]:
    result = runner.invoke(app, ["--config", str(config), "notify", "outbox", "--json"])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


@pytest.fixture
def fakes() -> Iterator[tuple[FakeSlack, FakePagerDuty]]:
    slack, pagerduty = FakeSlack(), FakePagerDuty()
    yield slack, pagerduty
    slack.stop()
    pagerduty.stop()


@pytest.mark.slow
def test_serve_killed_mid_delivery_loses_nothing_and_repeats_the_dedup_key(
    tmp_path: Path, fakes: tuple[FakeSlack, FakePagerDuty]
) -> None:
    slack, pagerduty = fakes
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'opsbook.db'}", slack, pagerduty)
    server, _ = _serve(config)
    pagerduty.hold()  # PagerDuty takes the trigger and does not answer yet
    opened = runner.invoke(
        app, ["--config", str(config), "incident", "open", "--sev", "P0", "--title", "Down"]
    )
    assert opened.exit_code == 0, opened.output
    try:
        wait_for(lambda: pagerduty.holding == 1)
        # Slack answered and serve recorded it: only the page is in flight. (Killed between
        # Slack's `ok` and that record, Slack would get it twice: incoming webhooks have no
        # idempotency key.)
        wait_for(lambda: [row["channel"] for row in _outbox(config)] == ["pagerduty"])
    finally:
        server.kill()  # SIGKILL, mid-delivery: PagerDuty has the request, opsbook no answer
        server.communicate(timeout=30)
    pagerduty.release()
    wait_for(lambda: len(pagerduty.events) >= 1)
    server, _ = _serve(config)
    try:
        # The lease (2s) runs out; the trigger goes again under the same dedup_key.
        wait_for(lambda: _outbox(config) == [], timeout=30)
        assert runner.invoke(app, ["--config", str(config), "incident", "ack", "1"]).exit_code == 0
        wait_for(lambda: [a for a, _ in pagerduty.actions()][-1:] == ["acknowledge"], timeout=30)
    finally:
        _stop(server)
    # Nothing lost, and every repeat of the trigger carries the one dedup_key PagerDuty
    # drops repeats by: the one held when serve died (more if a slow machine let its 1s
    # timeout retry first), then the one sent after the restart; then one acknowledge.
    *triggers, last = pagerduty.actions()
    assert len(triggers) >= 2 and set(triggers) == {("trigger", "shop-incident-1")}
    assert last == ("acknowledge", "shop-incident-1")
    # Slack was not held: it got its trigger once, then the acknowledgement.
    assert [m["text"].split(":")[0] for m in slack.messages] == ["New incident", "Acknowledged"]


@pytest.mark.slow
def test_two_serve_processes_on_one_postgresql_store_send_each_message_once(
    tmp_path: Path, pg_url: str, fakes: tuple[FakeSlack, FakePagerDuty]
) -> None:
    slack, pagerduty = fakes
    # A lease longer than any send on a loaded machine: what is tested is that two live
    # processes never claim one message at once, not what happens when a lease runs out.
    config_path = _config(tmp_path, pg_url, slack, pagerduty, lease="2m")
    servers = [_serve(config_path)[0] for _ in range(2)]
    config = load_config(config_path)
    store = open_store(pg_url)
    notify.attach(store, config)
    try:
        for number in range(20):
            with store.session() as session:
                incidents.open_incident(
                    session, title=f"outage {number}", severity="P0", actor="t", clock=SYSTEM_CLOCK
                )
        wait_for(lambda: len(pagerduty.events) >= 20 and len(slack.messages) >= 20, timeout=60)
        wait_for(lambda: _outbox(config_path) == [], timeout=30)
    finally:
        outputs = [_stop(server) for server in servers]
        store.close()
    keys = Counter(key for _, key in pagerduty.actions())
    assert len(keys) == 20 and set(keys.values()) == {1}, outputs
    assert len(slack.messages) == len(slack.requests) == 20
