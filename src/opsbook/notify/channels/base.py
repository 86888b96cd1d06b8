"""What every channel shares: the answer it gives the outbox, and one HTTP POST that turns
a far side's reply into delivered, retry later, or failed for good."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from opsbook import __version__
from opsbook.clock import Clock
from opsbook.console import visible
from opsbook.notify.message import Message, cut

if TYPE_CHECKING:
    import aiohttp

Outcome = Literal["delivered", "retry", "failed"]
USER_AGENT = f"opsbook/{__version__} (+notify)"
# Longer waits than a day are a far side's mistake (or a hostile value): a day it is.
LONGEST_RETRY_AFTER = dt.timedelta(days=1)
ANSWER_KEPT = 500  # characters of a reply kept for `notify outbox` and `notify test`
READ_AT_MOST = 64 * 1024  # bytes of a reply read: an answer, not a download
# Statuses a repeat can change: a timeout, too early, rate limited, the far side's trouble.
_RETRYABLE = {408, 425, 429}


@dataclass(frozen=True)
class Answer:
    """How one attempt went, in the far side's words (`detail`, cut and made visible)."""

    outcome: Outcome
    detail: str
    status: int | None = None
    retry_after: dt.timedelta | None = None

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"


@dataclass(frozen=True)
class SendContext:
    http: aiohttp.ClientSession
    clock: Clock


class Sender(Protocol):
    """One channel kind: which message kinds it sends, and how it sends one."""

    kinds: frozenset[str]

    async def send(self, message: Message, ctx: SendContext) -> Answer: ...


def new_http(limit: int = 100) -> aiohttp.ClientSession:
    """One session for every delivery: connection reuse is most of the throughput."""
    # aiohttp is imported where a message is sent: every command that writes an incident
    # event reaches this module (to queue), and few of them send.
    import aiohttp

    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300)
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})


async def post(
    ctx: SendContext,
    url: str,
    body: bytes,
    *,
    timeout: dt.timedelta,
    headers: dict[str, str] | None = None,
) -> Answer:
    """POST `body` and classify the reply. Redirects are not followed: a webhook URL that
    moved is a configuration to fix, and following it would resend the body elsewhere."""
    import aiohttp

    sent_headers = {"Content-Type": "application/json", **(headers or {})}
    try:
        async with ctx.http.post(
            url,
            data=body,
            headers=sent_headers,
            timeout=aiohttp.ClientTimeout(total=timeout.total_seconds()),
            allow_redirects=False,
        ) as response:
            text = (await response.content.read(READ_AT_MOST)).decode("utf-8", "replace")
            retry_after = parse_retry_after(response.headers.get("Retry-After"), ctx.clock)
            return classify(response.status, text, retry_after)
    except TimeoutError:
        return Answer("retry", f"no answer within {timeout.total_seconds():g}s")
    except aiohttp.ClientError as exc:
        return Answer("retry", shown(f"could not reach it: {exc}"))


def classify(status: int, text: str, retry_after: dt.timedelta | None = None) -> Answer:
    """2xx delivered; 408/425/429 and 5xx retried (429 and 503 after Retry-After); any
    other status (400, 401, 403, 404, 410...) says the request itself is wrong and will be
    refused again, so it fails for good."""
    detail = shown(f"{status} {text.strip()}")
    if 200 <= status < 300:
        return Answer("delivered", detail, status)
    if status in _RETRYABLE or status >= 500:
        return Answer("retry", detail, status, retry_after)
    return Answer("failed", detail, status)


def parse_retry_after(value: str | None, clock: Clock) -> dt.timedelta | None:
    """RFC 9110 10.2.3: seconds, or an HTTP date; nonsense is ignored (backoff applies),
    and a wait beyond a day is cut to a day."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        seconds = int(text[:9])  # nine digits is already years past the cap
        return min(dt.timedelta(seconds=seconds), LONGEST_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    wait = when - clock.now()
    return min(max(wait, dt.timedelta(0)), LONGEST_RETRY_AFTER)


def shown(text: str) -> str:
    """A far side's words as stored and printed: one visible line, cut."""
    return cut(visible(text), ANSWER_KEPT)


async def guarded(sender: Sender, message: Message, ctx: SendContext) -> Answer:
    """A channel's bug is one message's failure to retry, never the worker's end."""
    try:
        return await sender.send(message, ctx)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return Answer("retry", shown(f"opsbook failed to send it: {type(exc).__name__}: {exc}"))
