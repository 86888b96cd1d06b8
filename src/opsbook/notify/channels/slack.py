"""Slack incoming webhooks: a Block Kit message with a `text` fallback.

Incoming webhooks have no idempotency key: Slack posts every request it accepts. Delivery
is at least once; a repeat is seen only when opsbook died between Slack's `ok` and the
outbox recording it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from opsbook.config.notify import SlackChannel
from opsbook.config.secrets import is_set
from opsbook.jsonout import dumps
from opsbook.notify.channels.base import Answer, SendContext, post
from opsbook.notify.message import (
    HEADLINES,
    NOTICE,
    PAGING_KINDS,
    Message,
    cut,
    due_text,
    many_lines,
    one_line,
)

# Block Kit limits: a section's text 3,000 characters, a field's 2,000, a button's URL 3,000.
TITLE_LIMIT = 300
SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,20}")
TEXT_LIMIT = 2_500
# The buttons' action_id; their value is the incident key (notify/inbound.py reads both).
ACKNOWLEDGE = "opsbook_ack"
RESOLVE = "opsbook_resolve"
ICONS = {"trigger": ":rotating_light:", "resolve": ":white_check_mark:", "test": ":test_tube:"}


def escape(text: str) -> str:
    """Slack's own rule ("Escaping text", formatting docs): &, < and > as entities, so
    `<!channel>` or `<http://x|y>` in a title shows as typed, never as a mention or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Slack:
    kinds = (
        frozenset({"trigger", "update", "acknowledge", "resolve", "test", NOTICE}) | PAGING_KINDS
    )

    def __init__(self, channel: SlackChannel) -> None:
        self.channel = channel

    def body(self, message: Message) -> dict[str, Any]:
        if message.kind == NOTICE:
            return notice_body(message)
        incident = message.incident
        headline = HEADLINES.get(message.kind, message.kind)
        title = escape(cut(one_line(str(incident.get("title", ""))), TITLE_LIMIT))
        severity = escape(str(incident.get("severity", "?")))
        icon = ICONS.get(message.kind, ":information_source:")
        blocks: list[dict[str, Any]] = [
            _section(f"{icon} *{escape(headline)}: [{severity}] #{incident.get('id')} {title}*"),
            {
                "type": "section",
                "fields": [
                    _mrkdwn(f"*Severity*\n{severity} {escape(str(incident.get('label', '')))}"),
                    _mrkdwn(f"*Status*\n{escape(str(incident.get('status', '')))}"),
                    _mrkdwn(f"*Due*\n{escape(due_text(message.payload))}"),
                    _mrkdwn(
                        f"*Component*\n{escape(one_line(str(incident.get('component') or '-')))}"
                    ),
                ],
            },
        ]
        mention = page_mention(message)
        if mention:
            blocks.insert(0, _section(mention))
        if message.changes:
            changed = "\n".join(f"• {escape(one_line(c))}" for c in message.changes)
            blocks.append(_section(cut(f"*What changed*\n{changed}", TEXT_LIMIT)))
        if message.text:
            blocks.append(_section(cut(escape(many_lines(message.text)), TEXT_LIMIT)))
        elements = self._buttons(message)
        if elements:
            blocks.append({"type": "actions", "elements": elements})
        status = one_line(str(incident.get("status", "")))
        fallback = f"{headline}: {message.summary(TITLE_LIMIT)} ({status})"
        return {"text": escape(fallback), "blocks": blocks}

    def _buttons(self, message: Message) -> list[dict[str, Any]]:
        """The incident's link, and Acknowledge and Resolve where they can still act. Those
        two only with the app's signing secret: without it a press could not be trusted,
        so opsbook would refuse it, and a button that does nothing is worse than none."""
        incident = message.incident
        url, key, status = incident.get("url"), incident.get("key"), incident.get("status")
        found: list[dict[str, Any]] = []
        if isinstance(url, str) and url:
            found.append(_button("Open incident", url=url))
        if not is_set(self.channel.signing_secret) or not isinstance(key, str) or not key:
            return found
        if status == "open":
            found.append(_button("Acknowledge", action_id=ACKNOWLEDGE, value=key, style="primary"))
        if status != "resolved" and message.kind not in ("resolve", "test"):
            found.append(_button("Resolve", action_id=RESOLVE, value=key))
        return found

    async def send(self, message: Message, ctx: SendContext) -> Answer:
        body = dumps(self.body(message)).encode()
        return await post(
            ctx, self.channel.webhook_url.reveal(), body, timeout=self.channel.timeout
        )


async def reply(
    ctx: SendContext, response_url: str, text: str, *, ephemeral: bool, timeout: dt.timedelta
) -> Answer:
    """Tell the channel a button press's outcome through the press's `response_url` (a new
    message; `ephemeral`: seen by the person who pressed only)."""
    body = {
        "text": escape(one_line(text)),
        "response_type": "ephemeral" if ephemeral else "in_channel",
        "replace_original": False,
    }
    return await post(ctx, response_url, dumps(body).encode(), timeout=timeout)


def notice_body(message: Message) -> dict[str, Any]:
    """A notice as the runbook wrote it, escaped: `<!channel>` in it shows as typed."""
    text = escape(many_lines(message.text))
    if len(text) > TEXT_LIMIT:
        # Cut after escaping (an `&` grows to five characters), never inside an entity.
        text = re.sub(r"&[a-z]{0,3}$", "", text[: TEXT_LIMIT - 1]) + "…"
    return {"text": text, "blocks": [_section(text)]}


def _button(text: str, **fields: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, **fields}


def page_mention(message: Message) -> str:
    """`<@U024BE7LH>` for the person an escalation message pages (Slack notifies them),
    their name escaped when no Slack id is known. The id is checked again here: it is the
    one piece of a message not escaped, so only Slack's own id shape may pass."""
    person = message.page.get("person")
    if not person:
        return ""
    user = str(message.page.get("slack_user_id") or "")
    if SLACK_USER.fullmatch(user):
        return f"<@{user}>"
    return f"*{escape(one_line(str(person)))}*"


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": cut(text, 2_000)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}
