"""A big Alertmanager group against a real `opsbook serve` (issue #12, item 4): it does not
starve a person's `incident open` or /healthz, and a kill between its chunks loses nothing
and repeats nothing once Alertmanager sends the group again."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from opsbook.incidents.models import Incident, IncidentEvent
from opsbook.postgres.cluster import free_port
from opsbook.sandbox.alertmanager import alert_group
from opsbook.store import open_store
from opsbook.watch.models import Alert
from tests.conftest import wait_for

TOKEN = "am-token-123456"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def _config(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text(
        f"store: {{url: '{store_url}'}}\nalertmanager: {{token: {TOKEN}}}\n"
        "serve: {max_body: 8MiB}\n"
    )
    return path


def start(config: Path) -> tuple[subprocess.Popen[str], str]:
    """`opsbook serve` as its own process, its output in a file beside the config: a group
    logs a line per alert, more than a pipe nobody reads holds."""
    port = free_port()
    with (config.parent / "serve.log").open("a") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "opsbook",
                "--config",
                str(config),
                "serve",
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: firing(url) is not None or server.poll() is not None, timeout=90)
    assert server.poll() is None, (config.parent / "serve.log").read_text()
    return server, url


@contextmanager
def serving(config: Path) -> Iterator[str]:
    """`opsbook serve` for the block, stopped with SIGTERM."""
    server, url = start(config)
    try:
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def firing(url: str) -> int | None:
    """What /healthz says is open, or None when it does not answer within 5 s."""
    try:
        answer = httpx.get(f"{url}/healthz", timeout=5)
    except httpx.TransportError:
        return None
    return int(answer.json()["firing"]) if answer.status_code == 200 else None


def post_in_thread(url: str, body: dict[str, Any]) -> tuple[threading.Thread, list[Any]]:
    answers: list[Any] = []

    def post() -> None:
        try:
            answers.append(
                httpx.post(f"{url}/api/v1/alertmanager", json=body, headers=HEADERS, timeout=600)
            )
        except httpx.TransportError as error:
            answers.append(error)

    thread = threading.Thread(target=post)
    thread.start()
    return thread, answers


@pytest.mark.slow
def test_a_p0_opened_during_an_8000_alert_post_gets_through(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    config = _config(tmp_path, store_url)
    count = 8000
    with serving(config) as url:
        thread, answers = post_in_thread(url, alert_group(count))
        try:
            # /healthz answers in the middle of the burst, with what is stored so far.
            wait_for(lambda: 0 < (firing(url) or 0) < count, timeout=120)
            opened = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "opsbook",
                    "--config",
                    str(config),
                    "incident",
                    "open",
                    "--sev",
                    "P0",
                    "--title",
                    "checkout is down",
                    "--json",
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
        finally:
            thread.join(timeout=600)
    assert opened.returncode == 0, opened.stderr
    [answer] = answers
    assert answer.status_code == 200, answer.text
    assert answer.json()["states"] == {"firing": count}
    store = open_store(store_url)
    with store.reading() as session:
        severities = dict(session.execute(select(Incident.title, Incident.severity)).all())
        alerts = session.scalar(select(func.count()).select_from(Alert))
    store.close()
    assert severities["checkout is down"] == "P0"  # the person's incident, recorded
    assert len(severities) == 2 and alerts == count  # and the group's, whole


@pytest.mark.slow
def test_a_group_cut_short_by_a_kill_is_stored_once_when_sent_again(
    tmp_path: Path, store_url: str
) -> None:
    """SIGKILL while a group is being stored, then Alertmanager's retry of the whole group:
    every alert once, on one incident, with one timeline line each (on both stores)."""
    config = _config(tmp_path, store_url)
    count = 2000
    kill_at = random.Random(12).randint(1, count // 2)
    server, url = start(config)
    try:
        thread, _ = post_in_thread(url, alert_group(count))
        wait_for(lambda: (firing(url) or 0) >= kill_at, timeout=120)
    finally:
        server.kill()
        server.wait(timeout=60)
    thread.join(timeout=60)
    stored_before = _stored(store_url)["alerts"]
    with serving(config) as url:
        again = httpx.post(
            f"{url}/api/v1/alertmanager", json=alert_group(count), headers=HEADERS, timeout=600
        )
    assert again.status_code == 200 and again.json()["states"] == {"firing": count}
    assert stored_before >= kill_at
    assert _stored(store_url) == {
        "alerts": count,
        "incidents": 1,
        "routed": count,
        "alert lines": count,
        "opened lines": 1,
    }


def _stored(store_url: str) -> dict[str, int]:
    store = open_store(store_url)

    def counted(query: Any) -> int:
        return int(session.scalar(query) or 0)

    with store.reading() as session:
        found = {
            "alerts": counted(select(func.count()).select_from(Alert)),
            "incidents": counted(select(func.count()).select_from(Incident)),
            "routed": counted(
                select(func.count()).select_from(Alert).where(Alert.incident_id.is_not(None))
            ),
            "alert lines": counted(
                select(func.count()).select_from(IncidentEvent).where(IncidentEvent.kind == "alert")
            ),
            "opened lines": counted(
                select(func.count())
                .select_from(IncidentEvent)
                .where(IncidentEvent.kind == "opened")
            ),
        }
    store.close()
    return found
