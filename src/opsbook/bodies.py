"""Limits on request bodies, shared by every app opsbook serves (the web app with its
Alertmanager receiver, and the sandbox).

One ASGI middleware reads each body before any route sees it: a declared Content-Length
over the limit is refused (413) without reading a byte of the body, a chunked body is
counted as it arrives and refused once it passes the limit, and JSON nested deeper than
the limit is refused (400). `json.loads` recurses in C and raises RecursionError near
1,000 levels, which would surface as a 500; the depth is measured first, by regular
expressions and iterators that never recurse, so no route can meet such a body.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:  # the config imports the limits: keep this module light to import
    from starlette.requests import Request

MAX_BODY_BYTES = 8 << 20  # an 8,000-alert Alertmanager group is about 1.4 MB; a 413 loses it
MAX_JSON_DEPTH = 64
_SHOWN = 60  # characters of a bad value echoed back in an error
log = logging.getLogger("opsbook.web")

# A string literal, from its opening quote to its closing one or the end of the body:
# every quote starts a match that always succeeds, so a body of unclosed quotes costs one
# pass, not one pass per quote.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class BodyError(ValueError):
    """A body a route cannot use; `status` is what the client is answered."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class BodyLimits:
    max_bytes: int = MAX_BODY_BYTES
    max_depth: int = MAX_JSON_DEPTH


def json_depth(text: str) -> int:
    """How deeply the brackets in a JSON text nest, outside string literals.

    Malformed text gets a number too (json.loads will refuse it later); what matters is
    that measuring never recurses and costs a few passes in C over the text.
    """
    brackets = _NOT_A_BRACKET.sub("", _STRING.sub("", text))
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)


def check_depth(body: bytes, limit: int) -> None:
    """Refuse a body whose JSON nests deeper than `limit` (BodyError, 400)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return  # cannot nest deeper than it has brackets, in any encoding json reads
    try:
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    except (UnicodeDecodeError, LookupError):
        return  # not text json.loads can read either: the route answers 400 for it
    if json_depth(text) > limit:
        raise BodyError(f"JSON nested deeper than {limit} levels")


def _refuse_constant(constant: str) -> float:
    raise BodyError(f"{constant} is not a JSON number")


def _finite(literal: str) -> float:
    number = float(literal)
    if math.isinf(number):
        raise BodyError(f"{shown(literal)} is too large for a JSON number")
    return number


def parse_json(body: bytes) -> Any:
    """Standard JSON from a body the middleware has let through: NaN, Infinity and numbers
    that overflow to infinity are refused (PostgreSQL's jsonb and timestamps refuse them)."""
    try:
        return json.loads(body, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:  # only if a caller skipped the middleware's depth check
        raise BodyError("JSON nested too deeply") from None
    except BodyError:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise BodyError(f"body is not JSON: {exc}") from None


async def read_json(request: Request) -> Any:
    """The request's JSON body; BodyError (400) when it is not JSON."""
    return parse_json(await request.body())


def shown(value: Any) -> str:
    """A bad value as an error message quotes it: escaped (no NUL or terminal escape
    reaches a log or a terminal) and cut short (a megabyte is not echoed back)."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def unstorable(value: Any, where: str = "body", *, nul: bool = False) -> str | None:
    """Why PostgreSQL could not store a string in this JSON value, naming where; else None.

    Text columns refuse NUL, jsonb refuses \\u0000, and nothing encodes a lone surrogate
    as UTF-8: each would otherwise surface as a 500 at the insert. opsbook's own store
    keeps a NUL as U+FFFD (store/engine.py), so its receivers pass `nul=True`: a sender
    that is refused with a 4xx drops the alert for good.
    """
    for path, item in _leaves(value, where):
        if isinstance(item, str):
            if "\x00" in item and not nul:
                return f"{path}: {shown(item)} contains a NUL character"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return f"{path}: {shown(item)} contains a lone surrogate"
    return None


def _leaves(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Every key and scalar of a JSON value with its path, by an explicit stack (a deep
    value must not exhaust Python's recursion)."""
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                yield f"{path} key", key
                # A key that is not a plain name is quoted: it may hold anything.
                step = f".{key}" if key.isidentifier() else f"[{shown(key)}]"
                stack.append((path + step, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
        else:
            yield path, item


class LimitBodies:
    """ASGI middleware: the whole body is read (up to the limit) before the app runs, then
    handed to it unchanged. Refusals answer {"error": ...} with 413 or 400."""

    def __init__(self, app: ASGIApp, limits: BodyLimits = BodyLimits()) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_body(scope):
            await self.app(scope, receive, send)  # nothing to read or refuse
            return
        try:
            messages = await self._read(scope, receive)
        except BodyError as exc:
            client = scope.get("client")
            sender = f"{client[0]}:{client[1]}" if client else "an unknown sender"
            path = shown(scope.get("path", ""))  # a client's text: quoted, cut short
            log.warning("refused a request to %s from %s (%d): %s", path, sender, exc.status, exc)
            await _refuse(send, exc)
            return
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    async def _read(self, scope: Scope, receive: Receive) -> list[Message]:
        limit = self.limits.max_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            raise BodyError(
                f"request body of {declared} bytes is over the limit of {limit} bytes", 413
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return [message]  # the client left; the app sees http.disconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyError(f"request body is over the limit of {limit} bytes", 413)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        check_depth(body, self.limits.max_depth)
        return [{"type": "http.request", "body": body, "more_body": False}]


def has_body(scope: Scope) -> bool:
    """Whether an HTTP request carries a body: only Content-Length or Transfer-Encoding say
    so (RFC 9112 6.3), so a GET without them is passed on unread."""
    return any(
        name == b"transfer-encoding" or (name == b"content-length" and value != b"0")
        for name, value in scope["headers"]
    )


def _content_length(scope: Scope) -> int | None:
    """The declared body size, if any. h11 refuses one that is not digits; one of more
    than 18 digits counts as 10**18 (past any limit, and int() refuses 4,300 digits)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value) if len(value) <= 18 else 10**18
    return None


async def _refuse(send: Send, error: BodyError) -> None:
    """Answer {"error": ...} and close: the rest of a refused body may still be coming."""
    body = json.dumps({"error": str(error)}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
