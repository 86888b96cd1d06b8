"""uvicorn's HTTP protocol with the public fast path at the parser.

In a surge (the app is down, every customer refreshes `/status`, every widget polls
`/api/v2/summary.json`) `fastpath.PublicFastPath` answers cached bytes before FastAPI, yet
each request still paid uvicorn's ASGI cycle: a scope, a task, an event, two `send`
messages whose headers are checked one by one. Measured in process with wrk (bench/
statuspage.py's store; user CPU per request): /status (70 KB) 116 us through the cycle,
54 us answered here; summary.json 82 us and 32 us. Requests/s about doubled.

Only what cannot differ from the ASGI path is answered here: a GET of the exact path of a
cached public document (no query, no percent-encoding, no body, no upgrade), over
HTTP/1.1 keep-alive, while no earlier request of the connection is still being answered
and the transport is not holding back a slow reader's bytes. The answer is the one
`PublicFastPath` gives (same function, same headers, uvicorn's date and server headers
first, as uvicorn sends them). Everything else, including a cache due for its check of the
store, takes uvicorn's path unchanged.

This leans on attributes of uvicorn's HttpToolsProtocol that are not its public API (cycle,
pipeline, flow, parser, url, headers, server_state, the keep-alive timer):
tests/web/test_protocol.py is what fails first should a uvicorn release move them.
"""

from __future__ import annotations

from typing import Any, cast

from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from opsbook.bodies import has_body
from opsbook.status.cache import MEMO
from opsbook.status.fastpath import API, PAGES, Answer, PublicFastPath

# The request targets answered here, as they arrive on the wire.
TARGETS = {path.encode(): path for path in [*PAGES, *API]}


class Heads:
    """Status lines and headers as sent, per answer, shared by a server's connections.
    Rebuilt when uvicorn renews its default headers (the date, once a second)."""

    def __init__(self, fast: PublicFastPath) -> None:
        self.fast = fast
        self._defaults: list[tuple[bytes, bytes]] | None = None
        self._heads: dict[tuple[Any, ...], bytes] = {}

    def head(self, found: Answer, defaults: list[tuple[bytes, bytes]]) -> bytes:
        if defaults is not self._defaults or len(self._heads) >= MEMO:
            self._defaults, self._heads = defaults, {}
        key = (found.status, len(found.body), *found.headers)
        head = self._heads.get(key)
        if head is None:
            lines = [STATUS_LINE[found.status]]
            for name, value in [*defaults, *self.fast.raw(found)]:
                lines += [name, b": ", value, b"\r\n"]
            head = self._heads[key] = b"".join([*lines, b"\r\n"])
        return head


class PublicProtocol(HttpToolsProtocol):
    """One connection: cached public documents answered from the parser, the rest by uvicorn."""

    heads: Heads  # set by `public_protocol` for one app

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._found: Answer | None = None

    def on_headers_complete(self) -> None:
        self._found = self._cached()
        if self._found is None:
            super().on_headers_complete()

    def on_message_complete(self) -> None:
        found, self._found = self._found, None
        if found is None:
            super().on_message_complete()
            return
        if self.transport.is_closing():
            return  # the reader is gone
        self.server_state.total_requests += 1
        head = self.heads.head(found, self.server_state.default_headers)
        # One write of both parts: no copy of the 70 KB body, one system call.
        self.transport.writelines([head, found.body])
        # As uvicorn after a response: the connection closes when idle too long. The timer
        # of a request pipelined before this one in the same read is cancelled first, or it
        # would close the connection while it is in use.
        self._unset_keepalive_if_required()
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def _cached(self) -> Answer | None:
        path = TARGETS.get(self.url)
        if path is None or self.parser.get_method() != b"GET" or has_body(cast(Scope, self.scope)):
            return None
        idle = self.cycle is None or self.cycle.response_complete
        parser = self.parser
        plain = parser.get_http_version() == "1.1" and parser.should_keep_alive()
        if not idle or self.pipeline or self.flow.write_paused or not plain:
            return None  # uvicorn keeps the order, waits for a slow reader, closes
        if parser.should_upgrade():
            return None
        tag = next((v for k, v in self.headers if k == b"if-none-match"), None)
        return self.heads.fast.lookup(path, tag)


def public_protocol(fast: PublicFastPath) -> type[PublicProtocol]:
    """The protocol class for uvicorn's `http` option, answering from `fast`'s cache."""

    class Protocol(PublicProtocol):
        heads = Heads(fast)

    return Protocol
