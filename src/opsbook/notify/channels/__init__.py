"""One module per channel kind; `sender_for` is the one place that knows them all."""

from __future__ import annotations

from opsbook.config.notify import (
    Channel,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
)
from opsbook.notify.channels.base import Answer, SendContext, Sender, new_http

__all__ = ["Answer", "SendContext", "Sender", "new_http", "sender_for"]


def sender_for(channel: Channel) -> Sender:
    # Each kind's module (email brings ssl and smtplib) is imported when a channel of its
    # kind is configured: every command that writes an incident event comes through here.
    from opsbook.notify.channels.email import Email
    from opsbook.notify.channels.pagerduty import PagerDuty
    from opsbook.notify.channels.slack import Slack
    from opsbook.notify.channels.webhook import Webhook

    if isinstance(channel, SlackChannel):
        return Slack(channel)
    if isinstance(channel, PagerDutyChannel):
        return PagerDuty(channel)
    if isinstance(channel, EmailChannel):
        return Email(channel)
    if isinstance(channel, WebhookChannel):
        return Webhook(channel)
    raise TypeError(f"no sender for {type(channel).__name__}")
