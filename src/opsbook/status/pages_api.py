"""The public status page (`/status`, its history, incident pages, feed and CSS), no login:
a door over `site` and `cache.PublicCache`.

In a surge every request of one view answers the same rendered bytes from the memo, on the
event loop; rendering, and reading the store for history the view does not hold, run in a
thread. An ETag per document lets a refreshing browser get 304 for nothing. Once rendered,
the page, the feed and the stylesheet are answered by `fastpath` before these routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opsbook.config import Config
from opsbook.status import site
from opsbook.status.cache import Built, PublicCache
from opsbook.status.fastpath import answer as answered
from opsbook.status.fastpath import response
from opsbook.status.pages import Served
from opsbook.status.site import Document

LINKS = Served()


def router(cache: PublicCache, config: Config) -> APIRouter:
    """GET routes for the page, its history, incident pages, feed and stylesheet."""
    routes = APIRouter()

    async def answer(
        request: Request, key: str, make: Callable[[Built], Document | None]
    ) -> Response:
        built = cache.snapshot()
        if built is None:
            built = await asyncio.to_thread(cache.current)
        document = built.rendered.get(key)
        if document is None and key not in built.rendered:
            document = await asyncio.to_thread(cache.rendered, built, key, lambda: make(built))
        if document is None:
            return _not_found()
        tag = request.headers.get("if-none-match")
        return response(answered(document, api=False, if_none_match=tag))

    @routes.get("/status", include_in_schema=False)
    async def index(request: Request) -> Response:
        return await answer(request, "index", lambda b: site.index(b.view, LINKS, pages=b.pages))

    @routes.get("/status/history", include_in_schema=False)
    async def history(request: Request) -> Response:
        number = site.parse_page(request.query_params.get("page"))
        if number is None:
            return _not_found()

        def make(b: Built) -> Document | None:
            with cache.store.reading() as session:
                return site.history_page(
                    session, config=config, view=b.view, links=LINKS, page=number, pages=b.pages
                )

        return await answer(request, f"history/{number}", make)

    @routes.get("/status/history.atom", include_in_schema=False)
    async def feed(request: Request) -> Response:
        return await answer(request, "feed", lambda b: site.feed(b.view, LINKS))

    @routes.get("/status/status.css", include_in_schema=False)
    async def css(request: Request) -> Response:
        return await answer(request, "css", lambda _: site.css())

    @routes.get("/status/incidents/{public_id}", include_in_schema=False)
    async def incident(request: Request, public_id: str) -> Response:
        if site.PUBLIC_ID.fullmatch(public_id) is None:
            return _not_found()

        def make(b: Built) -> Document | None:
            with cache.store.reading() as session:
                found = site.find_incident(session, config=config, view=b.view, public_id=public_id)
            return site.incident_page(b.view, LINKS, found) if found else None

        return await answer(request, f"incidents/{public_id}", make)

    return routes


def _not_found() -> Response:
    return Response(b"Not found\n", status_code=404, media_type="text/plain; charset=utf-8")
