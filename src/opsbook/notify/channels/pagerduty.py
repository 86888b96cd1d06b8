"""PagerDuty Events API v2: trigger, acknowledge and resolve under the incident's stable
key. PagerDuty deduplicates by `dedup_key`, so an event sent twice (opsbook killed between
PagerDuty's 202 and recording it) changes nothing the second time: exactly once as far as
PagerDuty's alert is concerned. Updates have no event in v2 and are not sent."""

from __future__ import annotations

import uuid
from typing import Any

from opsbook.config.notify import PagerDutyChannel
from opsbook.jsonout import dumps
from opsbook.notify.channels.base import Answer, SendContext, post
from opsbook.notify.message import Message, cut, many_lines

SUMMARY_LIMIT = 1024  # the Events API refuses a longer payload.summary
SEVERITIES = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}


class PagerDuty:
    kinds = frozenset({"trigger", "acknowledge", "resolve", "test"})

    def __init__(self, channel: PagerDutyChannel) -> None:
        self.channel = channel

    def event(self, message: Message, action: str, dedup_key: str) -> dict[str, Any]:
        event: dict[str, Any] = {
            "routing_key": self.channel.routing_key.reveal(),
            "event_action": action,
            "dedup_key": cut(dedup_key, 255),
        }
        if action != "trigger":
            return event
        incident = message.incident
        event["payload"] = {
            "summary": message.summary(SUMMARY_LIMIT),
            "source": cut(str(message.payload.get("project") or "opsbook"), 255),
            "severity": "info"
            if message.is_test
            else SEVERITIES.get(str(incident.get("severity")), "error"),
            "timestamp": incident.get("opened_at") or message.payload.get("at"),
            "component": cut(str(incident.get("component") or ""), 255) or None,
            "class": "incident",
            "custom_details": {
                "incident": incident.get("id"),
                "status": incident.get("status"),
                "changes": message.changes,
                "text": cut(many_lines(message.text), SUMMARY_LIMIT),
            },
        }
        event["payload"] = {k: v for k, v in event["payload"].items() if v is not None}
        event["client"] = "opsbook"
        url = incident.get("url")
        if isinstance(url, str) and url:
            event["client_url"] = url
            event["links"] = [{"href": url, "text": f"Incident #{incident.get('id')}"}]
        return event

    async def send(self, message: Message, ctx: SendContext) -> Answer:
        if message.is_test:
            return await self._test(message, ctx)
        key = str(message.incident.get("key") or message.key)
        action = message.kind if message.kind in ("acknowledge", "resolve") else "trigger"
        return await self._post(self.event(message, action, key), ctx)

    async def _test(self, message: Message, ctx: SendContext) -> Answer:
        """A trigger marked TEST at severity info, resolved at once under its own key."""
        key = f"opsbook-test-{uuid.uuid4().hex}"
        opened = await self._post(self.event(message, "trigger", key), ctx)
        if not opened.delivered:
            return opened
        closed = await self._post(self.event(message, "resolve", key), ctx)
        detail = f"trigger: {opened.detail}; resolve: {closed.detail}"
        return Answer(closed.outcome, detail, closed.status, closed.retry_after)

    async def _post(self, event: dict[str, Any], ctx: SendContext) -> Answer:
        body = dumps(event).encode()
        return await post(ctx, self.channel.events_url, body, timeout=self.channel.timeout)
