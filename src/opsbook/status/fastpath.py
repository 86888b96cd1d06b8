"""The public documents a surge asks for, answered before FastAPI routes the request.

When the app is down every customer refreshes `/status` and every widget polls
`/api/v2/summary.json`. Through FastAPI's middleware, router and dependency solving such a
GET cost about 0.5-1.3 ms of the event loop's time (measured in process, bench/statuspage.py),
which held serve near 800 requests/s and starved the check scheduler sharing the loop.
`PublicFastPath` answers the bytes the cache already holds, with the same headers and 304s
the routes give (`answer`: one function for both), when the answer needs neither the store
nor rendering; everything else (a page not rendered yet, a query string, a request with a
body, another path) goes on to the app and its routes unchanged.

Once a second the cache is due to ask the store whether anything changed: the request
that finds it due goes to the routes, which ask in a thread. Were the requests arriving
meanwhile sent there too, fifty connections would queue fifty threads on the cache's
lock, once a second, and the p99 latency would show it; they are answered the bytes being
checked instead, for at most GRACE seconds (past that, a store that does not answer, they
wait for it in the routes as before).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from opsbook.bodies import has_body
from opsbook.status.cache import MEMO, Built, PublicCache
from opsbook.status.site import Document
from opsbook.status.statuspage import DOCUMENTS

# Short: a customer refreshing during an outage sees the next update within seconds, and
# the cache already bounds what a surge costs.
CACHE_CONTROL = "public, max-age=5"
# The memo keys of the pages a surge asks for (pages_api renders them into the memo).
PAGES = {"/status": "index", "/status/history.atom": "feed", "/status/status.css": "css"}
API = {f"/api/v2/{path}": path for path in DOCUMENTS}
GRACE = 5.0  # seconds past `recheck` a view is answered while the store is being asked


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def answer(document: Document, *, api: bool, if_none_match: str | None) -> Answer:
    """What a GET of `document` answers: the bytes, or 304 when the client has them. The API
    is read by widgets on other sites, hence its CORS header."""
    headers = [("cache-control", CACHE_CONTROL), ("etag", document.etag)]
    if api:
        headers.append(("access-control-allow-origin", "*"))
    if if_none_match == document.etag:
        return Answer(304, headers, b"")
    return Answer(200, [*headers, ("content-type", document.media)], document.body)


def response(found: Answer) -> Response:
    """The answer for a FastAPI route (Starlette adds the Content-Length)."""
    return Response(found.body, status_code=found.status, headers=dict(found.headers))


class PublicFastPath:
    """ASGI middleware, outermost: cached public documents on the event loop, else the app."""

    def __init__(self, app: ASGIApp, cache: PublicCache) -> None:
        self.app = app
        self.cache = cache
        self._encoded: dict[tuple[Any, ...], list[tuple[bytes, bytes]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._cached(scope) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        headers = self.raw(found)
        await send({"type": "http.response.start", "status": found.status, "headers": headers})
        await send({"type": "http.response.body", "body": found.body})

    def _cached(self, scope: Scope) -> Answer | None:
        if scope["method"] != "GET" or scope["query_string"] or has_body(scope):
            return None  # the routes answer these (a body must be read, or refused, first)
        if_none_match = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
        return self.lookup(scope["path"], if_none_match)

    def lookup(self, path: str, if_none_match: bytes | None) -> Answer | None:
        """The answer to a GET of `path` (no query, no body) when the cache holds it."""
        if path not in PAGES and path not in API:
            return None
        built = self.cache.snapshot()  # O(1): the store is asked at most once per recheck
        if built is None:
            built = self.cache.checking(GRACE)
            if built is None:
                return None
        document = _document(built, path)
        if document is None:
            return None
        # An ETag is ASCII (a hex digest in quotes): a header that is not is no match.
        tag = if_none_match.decode("latin-1") if if_none_match is not None else None
        return answer(document, api=path in API, if_none_match=tag)

    def raw(self, found: Answer) -> list[tuple[bytes, bytes]]:
        """The answer's headers as sent, kept per answer (a few per view): encoding them
        anew was a tenth of the fast path's cost per request."""
        key = (found.status, len(found.body), *found.headers)
        raw = self._encoded.get(key)
        if raw is None:
            if len(self._encoded) >= MEMO:
                self._encoded.clear()
            raw = [(name.encode(), value.encode()) for name, value in found.headers]
            if found.status == 200:
                raw.append((b"content-length", str(len(found.body)).encode()))
            self._encoded[key] = raw
        return raw


def _document(built: Built, path: str) -> Document | None:
    if path in API:
        return built.documents[API[path]]
    return built.rendered.get(PAGES[path])
