"""Two-way acknowledge in tests: opsbook served on 127.0.0.1 over a paging desk, and
requests signed the way PagerDuty and Slack document it, computed here with hmac (never
with opsbook's own verifying code)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from opsbook.incidents import service as incidents
from opsbook.incidents.models import IncidentEvent
from opsbook.serving import BackgroundServer
from opsbook.web.app import create_app
from tests.notify.conftest import ROUTING_KEY, Desk
from tests.notify.fakes import FakePagerDuty, FakeSlack

PD_SECRET = "pd-webhook-signing-secret-0123456789"
PD_ROTATED = "pd-webhook-signing-secret-next-98765"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
HOSTILE = "Jane; rm -rf / $(reboot) \"'[/x][bold]\x1b[31m\x07\x00 <!channel>"


def channels(
    slack: FakeSlack,
    pagerduty: FakePagerDuty,
    *,
    pd_secret: str | None = PD_SECRET,
    slack_secret: str | None = SLACK_SECRET,
) -> str:
    """The two paging channels, with the inbound secrets given (None: left out)."""
    pd_extra = f", webhook_secret: {pd_secret}" if pd_secret is not None else ""
    slack_extra = f", signing_secret: {slack_secret}" if slack_secret is not None else ""
    lines = [
        f"- {{name: pagerduty, kind: pagerduty, routing_key: {ROUTING_KEY},"
        f' events_url: "{pagerduty.events_url}", timeout: 1s{pd_extra}}}',
        '- {name: slack-incidents, kind: slack, channel: "#incidents",'
        f' webhook_url: "{slack.webhook_url}", timeout: 1s{slack_extra}}}',
    ]
    return "".join(f"    {line}\n" for line in lines)


@contextmanager
def serving(desk: Desk) -> Iterator[str]:
    """opsbook's web app over the desk's store and clock, on a real socket; its URL."""
    server = BackgroundServer(
        create_app(desk.config, desk.store, clock=desk.clock, schedule=False)
    ).start()
    try:
        yield server.url
    finally:
        server.stop()


# --- PagerDuty webhooks v3 -------------------------------------------------------------


def pd_webhook(
    event_type: str,
    incident_key: str | None,
    *,
    agent: str | None = "Jane Doe",
    event_id: str | None = None,
) -> bytes:
    """A webhook v3 body shaped like PagerDuty's published example."""
    event: dict[str, Any] = {
        "id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": "2026-01-01T00:05:00.000Z",
        "agent": None
        if agent is None
        else {
            "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
            "id": "PLH1HKV",
            "self": "https://api.pagerduty.com/users/PLH1HKV",
            "summary": agent,
            "type": "user_reference",
        },
        "client": None,
        "data": {
            "id": "PGR0VU2",
            "type": "incident",
            "self": "https://api.pagerduty.com/incidents/PGR0VU2",
            "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
            "number": 2,
            "status": event_type.split(".")[-1],
            "incident_key": incident_key,
            "created_at": "2026-01-01T00:00:00Z",
            "title": "[P0] Incident #1: Site down",
            "service": {"id": "PF9KMXH", "summary": "shop", "type": "service_reference"},
            "assignees": [{"id": "PLH1HKV", "summary": "Jane Doe", "type": "user_reference"}],
        },
    }
    return json.dumps({"event": event}).encode()


def pd_signature(body: bytes, *secrets: str) -> str:
    """`X-PagerDuty-Signature`: `v1=` + hex HMAC-SHA256 of the raw body, one per secret."""
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def post_pd(url: str, body: bytes, signature: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    sig = pd_signature(body, PD_SECRET) if signature is None else signature
    if sig:
        headers["X-PagerDuty-Signature"] = sig
    return httpx.post(f"{url}/api/v1/pagerduty", content=body, headers=headers)


# --- Slack interactivity ---------------------------------------------------------------


def slack_press(
    action_id: str,
    value: str,
    response_url: str,
    *,
    username: str = "jane",
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """A `block_actions` payload as Slack documents it (the fields opsbook reads, and a
    few it does not)."""
    return {
        "type": "block_actions",
        "team": {"id": "T9TK3CUKW", "domain": "example"},
        "user": {"id": "UA8RXUSPL", "username": username, "name": username, "team_id": "T9"},
        "api_app_id": "AABA1ABCD",
        "token": "9s8d9as89d8as9d8as989",
        "container": {"type": "message", "message_ts": "1548261231.000200"},
        "trigger_id": trigger_id or f"12321423423.333649436676.{uuid.uuid4().hex}",
        "channel": {"id": "CBR2V3XEX", "name": "incidents"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "actions",
                "value": value,
                "type": "button",
                "action_ts": "1548426417.840180",
                "text": {"type": "plain_text", "text": "Acknowledge"},
            }
        ],
    }


def slack_form(payload: dict[str, Any] | str) -> bytes:
    """The form Slack posts: one `payload` field holding the JSON (a str: sent as is)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return urlencode({"payload": text}).encode()


def slack_headers(body: bytes, timestamp: int, secret: str = SLACK_SECRET) -> dict[str, str]:
    """`X-Slack-Signature`: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = f"v0:{timestamp}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
    }


def post_slack(
    url: str, body: bytes, headers: dict[str, str] | None = None, *, timestamp: int
) -> httpx.Response:
    sent = slack_headers(body, timestamp) if headers is None else headers
    return httpx.post(f"{url}/api/v1/slack/interactions", content=body, headers=sent)


# --- reading the outcome ---------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    status: str
    events: list[IncidentEvent]

    def kinds(self) -> list[tuple[str, str]]:
        return [(e.kind, e.actor) for e in self.events]


def seen(desk: Desk, incident_id: int) -> Seen:
    with desk.store.reading() as session:
        incident = incidents.get(session, incident_id=incident_id)
        events = incidents.timeline(session, incident_id=incident_id)
        session.expunge_all()
        return Seen(incident.status, events)
