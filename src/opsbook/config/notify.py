"""The `notify:` section: channels (Slack, PagerDuty, email, webhook), routing by severity
and component, and how the outbox retries.

Routing left unset follows the seed's severity table through each level's `action`
(P0 page, P1 alert, P2 ticket, P3 backlog): see `opsbook.notify.routing`."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints, field_validator, model_validator

from opsbook.bounds import Port
from opsbook.config.base import Model, SeverityName
from opsbook.config.durations import Duration, Timeout, at_least
from opsbook.config.secrets import Secret

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"

# A channel's name is typed on the command line (`opsbook notify test NAME`) and written
# into routing lists: plain words only.
ChannelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
# One address, no display name: a line break or a comma here would add a recipient or a
# header to every message sent.
_ADDRESS = re.compile(r"^[^@\s,;<>\"()\\\x00-\x1f\x7f]{1,64}@[A-Za-z0-9.-]{1,253}$")


def _http_url(where: str, value: str) -> None:
    if not value:
        return  # a ${VAR} left unset: the channel is off until it is set (config/unset.py)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{where} is not an http(s) URL")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        raise ValueError(f"{where} holds a space or a control character")


def plain_address(value: str) -> str:
    """`value` if it is one plain address; ValueError naming it otherwise."""
    if not _ADDRESS.match(value):
        raise ValueError(f"{value!r} is not one plain email address (user@example.com)")
    return value


def _signing_secret(where: str, secret: Secret | None) -> Secret | None:
    # Empty: a ${VAR} left unset, and two-way acknowledge stays off (config/unset.py).
    if secret is not None and secret.reveal() and len(secret.reveal()) < 16:
        raise ValueError(f"{where} needs at least 16 characters")
    return secret


def is_plain_address(value: str) -> bool:
    """One plain address (no display name, comma or line break): safe in a To header."""
    return bool(_ADDRESS.match(value))


Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)]


class ChannelBase(Model):
    name: ChannelName
    # How long one delivery may take; the outbox lease is longer (see OutboxPolicy).
    timeout: Timeout = dt.timedelta(seconds=10)


class SlackChannel(ChannelBase):
    """A Slack incoming webhook (it posts to the one channel it was made for). With the
    Slack app's `signing_secret`, its messages carry Acknowledge and Resolve buttons, and
    presses come back to `POST /api/v1/slack/interactions`."""

    kind: Literal["slack"]
    webhook_url: Secret
    channel: str | None = None  # shown in messages and listings only
    signing_secret: Secret | None = None

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, url: Secret) -> Secret:
        _http_url("webhook_url", url.reveal())
        return url

    @field_validator("signing_secret")
    @classmethod
    def _signing(cls, secret: Secret | None) -> Secret | None:
        return _signing_secret("signing_secret", secret)


class PagerDutyChannel(ChannelBase):
    """PagerDuty Events API v2, one service's integration (routing) key."""

    kind: Literal["pagerduty"]
    routing_key: Secret
    events_url: str = PAGERDUTY_EVENTS_URL
    # The signing secret of a PagerDuty webhook (v3) subscription: with it, acknowledging
    # or resolving in PagerDuty does the same in opsbook (`POST /api/v1/pagerduty`).
    webhook_secret: Secret | None = None

    @field_validator("events_url")
    @classmethod
    def _events_url(cls, url: str) -> str:
        _http_url("events_url", url)
        return url

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, secret: Secret | None) -> Secret | None:
        return _signing_secret("webhook_secret", secret)


class EmailChannel(ChannelBase):
    """SMTP: `starttls` (port 587), implicit `tls` (port 465), or `none` (a local relay)."""

    kind: Literal["email"]
    smtp_host: str
    smtp_port: Port = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: Secret | None = None
    ca_file: str | None = None  # a private CA's certificate; default: the system's
    from_: Address = Field(alias="from")
    to: list[Address] = Field(min_length=1, max_length=100)

    @field_validator("from_")
    @classmethod
    def _from(cls, value: str) -> str:
        return plain_address(value)

    @field_validator("to")
    @classmethod
    def _to(cls, values: list[str]) -> list[str]:
        return [plain_address(v) for v in values]


class WebhookChannel(ChannelBase):
    """opsbook's own signed JSON POST (FORMATS.md: Opsbook-Signature, Idempotency-Key)."""

    kind: Literal["webhook"]
    url: Secret
    secret: Secret
    headers: dict[str, Secret] = {}

    @field_validator("url")
    @classmethod
    def _url(cls, url: Secret) -> Secret:
        _http_url("url", url.reveal())
        return url

    @field_validator("secret")
    @classmethod
    def _secret(cls, secret: Secret) -> Secret:
        if secret.reveal() and len(secret.reveal()) < 16:  # empty: unset, the channel is off
            raise ValueError("the signing secret needs at least 16 characters")
        return secret

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, Secret]) -> dict[str, Secret]:
        for name, value in headers.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise ValueError(f"headers: {name!r} is not a header name")
            if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value.reveal()):
                raise ValueError(f"headers: {name!r} holds a control character (a line break?)")
        return headers


Channel = Annotated[
    SlackChannel | PagerDutyChannel | EmailChannel | WebhookChannel,
    Field(discriminator="kind"),
]
Route = Annotated[list[ChannelName], Field(max_length=50)]


class OutboxPolicy(Model):
    """How the outbox retries: exponential backoff from `backoff` up to `backoff_max`, with
    jitter; dead after `max_failures` failed attempts or once older than `give_up_after`."""

    max_failures: int = Field(default=8, ge=1, le=100)
    backoff: Annotated[Duration, at_least(dt.timedelta(milliseconds=10))] = dt.timedelta(seconds=10)
    backoff_max: Annotated[Duration, at_least(dt.timedelta(milliseconds=10))] = dt.timedelta(
        hours=1
    )
    give_up_after: Annotated[Duration, at_least(dt.timedelta(minutes=1))] = dt.timedelta(hours=24)
    # A message being sent is leased; a lease that ran out (the process died mid-send) is
    # sent again with the same idempotency key.
    lease: Annotated[Duration, at_least(dt.timedelta(milliseconds=100))] = dt.timedelta(minutes=2)
    poll_every: Annotated[Duration, at_least(dt.timedelta(milliseconds=10))] = dt.timedelta(
        milliseconds=200
    )
    concurrency: int = Field(default=50, ge=1, le=1000)
    # Delivered messages are deleted this long after delivery, dead ones this long after
    # they died (long enough to read and retry them), checked every `prune_every`. Never
    # while their incident is unresolved: their keys keep a repeat decision from sending.
    keep_delivered: Annotated[Duration, at_least(dt.timedelta(hours=1))] = dt.timedelta(days=30)
    keep_dead: Annotated[Duration, at_least(dt.timedelta(hours=1))] = dt.timedelta(days=90)
    prune_every: Annotated[Duration, at_least(dt.timedelta(seconds=1))] = dt.timedelta(minutes=5)


class CustomersConfig(Model):
    """Customer email, the seed's P0 step 8 ("Communicate to customers (if >15 min): email
        all org admins, update every 30 minutes") and its "Send all-clear email". Off until
        `channel` names an email channel (its SMTP server and From address are used; its `to`
        is not: recipients come from `recipients` and/or `recipients_query`). Which severities,
    after how long and how often are the SLA clocks' (`incidents.customer_update_*`)."""

    channel: ChannelName | None = None
    recipients: list[Address] = Field(default=[], max_length=5_000)
    # Read-only SQL on `database.url` returning one column of addresses (the org admins).
    recipients_query: Annotated[str, StringConstraints(min_length=1, max_length=10_000)] | None = (
        None
    )
    query_timeout: Timeout = dt.timedelta(seconds=10)
    max_recipients: int = Field(default=5_000, ge=1, le=100_000)
    # A folder of templates overriding the packaged ones, file by file.
    templates: str | None = None
    # How often `opsbook serve` looks for customer email that is due.
    check_every: Annotated[Duration, at_least(dt.timedelta(milliseconds=100))] = dt.timedelta(
        seconds=30
    )

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, values: list[str]) -> list[str]:
        return [plain_address(v) for v in values]

    @model_validator(mode="after")
    def _someone(self) -> CustomersConfig:
        if self.channel and not self.recipients and self.recipients_query is None:
            raise ValueError("customers: give recipients, recipients_query, or both")
        return self


class NotifyConfig(Model):
    channels: list[Channel] = []
    # Per severity: the channels to tell; a severity left out follows its level's action.
    routing: dict[SeverityName, Route] = {}
    # Per component, per severity: replaces the route above for incidents of that component.
    components: dict[str, dict[SeverityName, Route]] = {}
    # Where a message's link points; `{id}` is the incident's number.
    incident_url: str | None = None
    outbox: OutboxPolicy = OutboxPolicy()
    customers: CustomersConfig = CustomersConfig()

    @field_validator("incident_url")
    @classmethod
    def _incident_url(cls, url: str | None) -> str | None:
        if url is not None:
            _http_url("incident_url", url.replace("{id}", "1"))
        return url

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> NotifyConfig:
        # A lease shorter than a send would let a second worker take a message that is
        # still being sent, and send it twice at once.
        slowest = max((c.timeout for c in self.channels), default=dt.timedelta(0))
        if self.channels and self.outbox.lease < slowest * 2:
            raise ValueError(
                "outbox.lease must be at least twice the longest channel timeout"
                f" ({slowest.total_seconds():g}s)"
            )
        return self

    @model_validator(mode="after")
    def _customers_channel_is_email(self) -> NotifyConfig:
        name = self.customers.channel
        if name is None:
            return self
        found = next((c for c in self.channels if c.name == name), None)
        if not isinstance(found, EmailChannel):
            raise ValueError(f"customers.channel: {name!r} is not an email channel in channels")
        return self
