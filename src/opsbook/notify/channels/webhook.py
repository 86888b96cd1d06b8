"""opsbook's own webhooks (FORMATS.md): a JSON POST signed `Opsbook-Signature:
t=<unix seconds>,v1=<hex>` (HMAC-SHA256 over "<t>.<raw body>") carrying `Idempotency-Key:
<outbox message key>`. The key is the same on every attempt, so a receiver that drops
repeated keys sees each message exactly once; the signature is made per attempt (its `t`
is the sending time, which a receiver checks to be within 5 minutes)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from opsbook.config.notify import WebhookChannel
from opsbook.jsonout import dumps
from opsbook.notify.channels.base import Answer, SendContext, post
from opsbook.notify.message import NOTICE, PAGING_KINDS, Message


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `Opsbook-Signature` header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class Webhook:
    kinds = (
        frozenset({"trigger", "update", "acknowledge", "resolve", "test", NOTICE}) | PAGING_KINDS
    )

    def __init__(self, channel: WebhookChannel) -> None:
        self.channel = channel

    def body(self, message: Message) -> dict[str, Any]:
        return {
            "id": message.key,
            "type": NOTICE if message.kind == NOTICE else f"incident.{message.kind}",
            "test": message.is_test,
            "incident": message.incident,
            "changes": message.changes,
            "text": message.text,
            "actor": message.payload.get("actor"),
            "at": message.payload.get("at"),
            "due": message.payload.get("due"),
            "project": message.payload.get("project"),
            "page": message.page or None,
        }

    async def send(self, message: Message, ctx: SendContext) -> Answer:
        body = dumps(self.body(message)).encode()
        timestamp = int(ctx.clock.now().timestamp())
        headers = {name: value.reveal() for name, value in self.channel.headers.items()}
        headers["Opsbook-Signature"] = signature(self.channel.secret.reveal(), timestamp, body)
        headers["Idempotency-Key"] = message.key
        return await post(
            ctx, self.channel.url.reveal(), body, timeout=self.channel.timeout, headers=headers
        )
