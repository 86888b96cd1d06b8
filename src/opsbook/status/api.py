"""The public status API (`/api/v2/*.json`), no login: a door over `cache.PublicCache`.
While the cache is fresh, `fastpath` answers these before the routes do."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opsbook.status.cache import PublicCache
from opsbook.status.fastpath import answer, response
from opsbook.status.statuspage import DOCUMENTS


def router(cache: PublicCache) -> APIRouter:
    """One GET route per Statuspage v2 document."""
    routes = APIRouter()

    def serve(path: str) -> None:
        @routes.get(f"/api/v2/{path}", include_in_schema=False)
        async def document(request: Request) -> Response:
            # Asking the store (at most once per recheck) runs in a thread, so the event
            # loop never waits on it.
            built = cache.snapshot()
            if built is None:
                built = await asyncio.to_thread(cache.current)
            tag = request.headers.get("if-none-match")
            return response(answer(built.documents[path], api=True, if_none_match=tag))

        document.__name__ = f"statuspage_{path}"

    for path in DOCUMENTS:
        serve(path)
    return routes
