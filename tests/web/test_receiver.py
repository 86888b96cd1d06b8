"""The Alertmanager receiver's edges (issue #12, item 5): truncatedAlerts noted on the
incident, refusals logged with the sender, the Bearer scheme in any case."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.console import VisibleFormatter
from opsbook.incidents import service as incidents
from opsbook.sandbox.alertmanager import alert_group
from opsbook.serving import BackgroundServer
from opsbook.store import Store, open_store
from opsbook.web.app import create_app

TOKEN = "am-token-123456"
HOSTILE = "; rm -rf / $(reboot) \"'[/x][bold]\x1b[31m\x07"


@pytest.fixture
def served(store_url: str) -> Iterator[tuple[str, Store]]:
    config = Config.model_validate({"store": {"url": store_url}, "alertmanager": {"token": TOKEN}})
    store = open_store(store_url)
    server = BackgroundServer(
        create_app(config, store, clock=FrozenClock(), schedule=False)
    ).start()
    yield f"{server.url}/api/v1/alertmanager", store
    server.stop()
    store.close()


def _post(url: str, body: dict[str, Any], authorization: str = f"Bearer {TOKEN}") -> httpx.Response:
    return httpx.post(url, json=body, headers={"Authorization": authorization})


def _truncation_notes(store: Store) -> list[tuple[str, dict[str, Any]]]:
    with store.reading() as session:
        [incident] = incidents.list_incidents(session)
        return [
            (e.text, e.data)
            for e in incidents.timeline(session, incident_id=incident.id, kind="alerts.truncated")
        ]


def test_truncated_alerts_are_noted_on_the_incident_once_per_count(
    served: tuple[str, Store],
) -> None:
    url, store = served
    first = _post(url, alert_group(3, truncated=15))
    assert first.status_code == 200 and first.json()["truncated"] == 15
    _post(url, alert_group(3, truncated=15))  # Alertmanager's repeat: nothing new to say
    notes = _truncation_notes(store)
    assert [text for text, _ in notes] == [
        "15 more alerts of this Alertmanager group were not sent (its max_alerts): "
        "see Alertmanager for all"
    ]
    _post(url, alert_group(3, truncated=1))
    _post(url, alert_group(3))  # none left out: no note
    assert [data["truncated"] for _, data in _truncation_notes(store)] == [15, 1]


def test_a_truncated_count_as_large_as_a_uint64_is_stored(served: tuple[str, Store]) -> None:
    url, store = served
    assert _post(url, alert_group(1, truncated=2**64 - 1)).status_code == 200
    [(text, data)] = _truncation_notes(store)
    assert text.startswith("18,446,744,073,709,551,615 more alerts")
    assert data["truncated"] == 2**64 - 1


@pytest.mark.parametrize(
    "authorization", [f"bearer {TOKEN}", f"BEARER {TOKEN}", f"BeArEr   {TOKEN}"]
)
def test_the_bearer_scheme_is_case_insensitive(
    served: tuple[str, Store], authorization: str
) -> None:
    url, _ = served
    assert _post(url, alert_group(1), authorization).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        f"Bearer{TOKEN}",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN.upper()}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN}; rm -rf /",
        "Bearer $(cat /etc/passwd)",
        "Bearer [/x][bold]" + "9" * 5000,
    ],
)
def test_a_wrong_authorization_is_refused_and_logged_with_the_sender(
    served: tuple[str, Store], authorization: str, caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = served
    with caplog.at_level(logging.WARNING, logger="opsbook.web"):
        refused = _post(url, alert_group(1), authorization)
    assert refused.status_code == 401
    [record] = [r for r in caplog.records if r.name == "opsbook.web"]
    line = record.getMessage()
    assert line.startswith("refused an Alertmanager webhook from 127.0.0.1:")
    assert line.endswith("(401): missing or wrong bearer token")
    assert TOKEN not in line


def test_a_bad_payload_is_refused_and_logged_escaped(
    served: tuple[str, Store], caplog: pytest.LogCaptureFixture
) -> None:
    url, store = served
    body = alert_group(1)
    body["alerts"][0]["labels"] = {HOSTILE: 7, "x" * 100_000: "y"}
    with caplog.at_level(logging.WARNING, logger="opsbook.web"):
        refused = _post(url, body)
    assert refused.status_code == 400
    assert refused.json()["error"] == "not an Alertmanager v4 payload"
    [record] = [r for r in caplog.records if r.name == "opsbook.web"]
    shown = VisibleFormatter("%(message)s").format(record)  # as serve prints it
    assert "(400): not an Alertmanager v4 payload: " in shown
    assert "\x1b" not in shown and "\x07" not in shown and len(shown) < 300
    with store.reading() as session:
        assert incidents.list_incidents(session) == []  # nothing was changed


def test_a_body_the_middleware_refuses_is_logged_with_the_sender(
    served: tuple[str, Store], caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = served
    deep = "[" * 100 + "]" * 100
    with caplog.at_level(logging.WARNING, logger="opsbook.web"):
        refused = httpx.post(
            url,
            content=deep,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
    assert refused.status_code == 400
    [record] = [r for r in caplog.records if r.name == "opsbook.web"]
    assert record.getMessage().startswith(
        "refused a request to '/api/v1/alertmanager' from 127.0.0.1:"
    )
    assert "(400): JSON nested deeper than 64 levels" in record.getMessage()


@pytest.mark.parametrize(
    "runbook",
    ["x; touch /tmp/pwned", "$(touch /tmp/pwned)", "`id`", "a'b\"c", "p1 | sh", "\x1b[2J[/x]"],
)
def test_a_runbook_named_by_the_sender_is_one_word_of_the_command_to_paste(
    served: tuple[str, Store], runbook: str
) -> None:
    """The timeline offers `opsbook runbook run NAME --incident N` to paste into a shell;
    the name came from the sender's annotation, so it is quoted as one argument."""
    url, store = served
    body = alert_group(1)
    body["alerts"][0]["annotations"]["runbook"] = runbook
    assert _post(url, body).status_code == 200
    with store.reading() as session:
        [incident] = incidents.list_incidents(session)
        [event] = incidents.timeline(session, incident_id=incident.id, kind="runbook.suggested")
    command = event.text.removeprefix("suggested runbook: ")
    assert shlex.split(command) == [
        "opsbook",
        "runbook",
        "run",
        runbook,
        "--incident",
        str(incident.id),
    ]
    # Single-quoted, so a shell expands nothing in it (backticks and $() included).
    assert f" run {shlex.quote(runbook)} --incident" in command
    assert event.data == {"runbook": runbook}


def test_one_alert_twice_in_a_group_is_counted_once_by_its_final_state(
    served: tuple[str, Store],
) -> None:
    url, _ = served
    body = alert_group(2)
    again = dict(body["alerts"][0], status="resolved", endsAt="2026-03-02T09:05:00Z")
    body["alerts"].append(again)  # web-0 firing, web-1 firing, web-0 resolved
    answer = _post(url, body)
    assert answer.status_code == 200
    assert answer.json()["alerts"] == 3
    assert answer.json()["states"] == {"resolved": 1, "firing": 1}
