"""Stand-ins for PagerDuty's Events API v2 and a Slack incoming webhook on 127.0.0.1, so
that `opsbook demo --scenario outage` shows a page arriving without reaching the internet.

They check a request as the real services document it (`pagerduty_errors` is what the
Events API v2 refuses, and the tests' fakes use it too), answer as they would (202 with
the dedup_key; `ok`), and hand a readable line about each accepted one to `say`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from opsbook.console import visible
from opsbook.serving import BackgroundServer

PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
PD_SEVERITIES = {"critical", "error", "warning", "info"}
Say = Callable[[str], None]


def pagerduty_errors(event: Any) -> list[str]:
    """The checks the Events API v2 documents, each a message as PagerDuty words it."""
    if not isinstance(event, dict):
        return ["Event object is invalid"]
    errors = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("'routing_key' must be a 32 character string")
    action = event.get("event_action")
    if action not in PD_ACTIONS:
        errors.append("'event_action' is invalid (must be trigger, acknowledge or resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or invalid"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > 1024:
            errors.append("'payload.summary' must be 1 to 1024 characters")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            errors.append("'payload.source' is missing")
        if payload.get("severity") not in PD_SEVERITIES:
            errors.append("'payload.severity' must be critical, error, warning or info")
    return errors


def pagerduty_line(event: dict[str, Any]) -> str:
    """`PagerDuty got: trigger critical '[P0] Incident #1: ...' dedup_key=...`"""
    action, key = event["event_action"], event.get("dedup_key")
    if action != "trigger":
        return visible(f"PagerDuty got: {action} dedup_key={key}")
    payload = event["payload"]
    return visible(
        f"PagerDuty got: trigger {payload['severity']} {payload['summary']!r} dedup_key={key}"
    )


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def pagerduty_app(say: Say) -> FastAPI:
    app = FastAPI()

    @app.post("/v2/enqueue")
    async def enqueue(request: Request) -> Response:
        event = _parse(await request.body())
        errors = pagerduty_errors(event)
        if errors:
            body = {"status": "invalid event", "message": "Event object is invalid"}
            return JSONResponse({**body, "errors": errors}, status_code=400)
        say(pagerduty_line(event))
        reply = {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]}
        return JSONResponse(reply, status_code=202)

    return app


def slack_app(say: Say) -> FastAPI:
    app = FastAPI()

    @app.post("/services/{team}/{bot}/{token}")
    async def post(request: Request) -> Response:
        body = _parse(await request.body())
        if not isinstance(body, dict):
            return PlainTextResponse("invalid_payload", status_code=400)
        if not body.get("text") and not body.get("blocks"):
            return PlainTextResponse("no_text", status_code=400)
        say(visible(f"Slack got: {body.get('text', '')}"))
        return PlainTextResponse("ok")

    return app


class PagingFakes:
    """Both fakes served; `events_url` and `webhook_url` are what a config points at."""

    def __init__(self, say: Say) -> None:
        self.lines: list[str] = []

        def record(line: str) -> None:
            self.lines.append(line)
            say(line)

        self.pagerduty = BackgroundServer(pagerduty_app(record)).start()
        self.slack = BackgroundServer(slack_app(record)).start()
        self.events_url = f"{self.pagerduty.url}/v2/enqueue"
        self.webhook_url = f"{self.slack.url}/services/TDEMO/BDEMO/demo"

    def received(self, start: str) -> bool:
        """Whether a line starting with `start` was said (the demo waits for the page)."""
        return any(line.startswith(start) for line in list(self.lines))

    def stop(self) -> None:
        self.pagerduty.stop()
        self.slack.stop()
