"""The public status API (`/api/v2/*.json`), no login: a door over `cache.PublicCache`."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response

from opsbook.status.cache import PublicCache
from opsbook.status.statuspage import DOCUMENTS

MEDIA = "application/json; charset=utf-8"


def router(cache: PublicCache) -> APIRouter:
    """One GET route per Statuspage v2 document."""
    routes = APIRouter()

    def serve(path: str) -> None:
        @routes.get(f"/api/v2/{path}", include_in_schema=False)
        async def document() -> Response:
            # The usual answer is the cached bytes, on the event loop; asking the store
            # (at most once per recheck) runs in a thread, so the loop never waits on it.
            body = cache.cached(path) if cache.fresh() else None
            if body is None:
                body = await asyncio.to_thread(cache.body, path)
            return Response(
                body or b"{}", media_type=MEDIA, headers={"Access-Control-Allow-Origin": "*"}
            )

        document.__name__ = f"statuspage_{path}"

    for path in DOCUMENTS:
        serve(path)
    return routes
