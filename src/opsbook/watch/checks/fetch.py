"""HTTP for checks: one request, failures turned into sentences a responder understands."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from opsbook.bodies import MAX_JSON_DEPTH, check_depth
from opsbook.watch.probe import ProbeContext

BODY_LIMIT = 256 * 1024


class Unreachable(Exception):
    """No HTTP answer at all: refused, timed out, name not found, TLS failure."""


class NotConnected(Unreachable):
    """No connection was made, so the request was never sent (a caller whose request acts,
    a promote, knows nothing happened; after a timeout it cannot know)."""


@dataclass
class Answer:
    status: int
    text: str
    elapsed_ms: float
    # Where a redirect points (its Location header), when it was not followed.
    location: str | None = None

    def json(self) -> Any:
        """JSON numbers stay real numbers (0.05 > 0.01), never truncated to integers. A
        body nested past MAX_JSON_DEPTH is a ValueError like any other non-JSON answer
        (json.loads would raise RecursionError, and the check would crash)."""
        check_depth(self.text.encode(errors="replace"), MAX_JSON_DEPTH)
        return json.loads(self.text)


async def request(
    ctx: ProbeContext,
    method: str,
    url: str,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    payload: Any = None,
    follow_redirects: bool = True,
) -> Answer:
    started = time.monotonic()
    kwargs: dict[str, Any] = {"headers": headers or {}, "allow_redirects": follow_redirects}
    if payload is not None:
        kwargs["json"] = payload
    elif body is not None:
        kwargs["data"] = body
    try:
        async with asyncio.timeout(timeout):
            async with ctx.session.request(method, url, **kwargs) as response:
                raw = await _read(response, BODY_LIMIT)
                return Answer(
                    response.status,
                    raw.decode(errors="replace"),
                    round((time.monotonic() - started) * 1000, 1),
                    response.headers.get("Location"),
                )
    except TimeoutError:
        raise Unreachable(f"no answer within {timeout:g}s") from None
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error.strerror if exc.os_error and exc.os_error.strerror else str(exc)
        raise NotConnected(f"cannot connect to {exc.host}:{exc.port} ({reason.lower()})") from None
    except aiohttp.ClientError as exc:
        raise Unreachable(f"request failed: {exc}") from None


async def _read(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Up to `limit` bytes of the body. One `content.read(limit)` returns what has
    arrived so far, which for a body of more than one chunk is only its beginning."""
    raw = bytearray()
    while len(raw) < limit and (chunk := await response.content.read(limit - len(raw))):
        raw += chunk
    return bytes(raw)


def short(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
