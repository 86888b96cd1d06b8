"""GET /metrics: a door over the collector, for a Prometheus holding the bearer token.

It names every check, so it is never public: 401 without the token, and 404 (as if the
route did not exist) while `serve.metrics_token` is unset, metrics being off.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import CollectorRegistry

from opsbook.config import Config
from opsbook.config.secrets import is_set
from opsbook.responses import JSONResponse, refused
from opsbook.web.auth import bearer_matches


def router(config: Config, registry: CollectorRegistry) -> APIRouter:
    routes = APIRouter()
    token = config.serve.metrics_token

    @routes.get("/metrics", include_in_schema=False, response_model=None)
    def metrics(request: Request) -> Response:
        # A plain def: the collector's store reads run in FastAPI's thread pool, never on
        # the event loop.
        if not is_set(token):
            return JSONResponse({"detail": "Not Found"}, status_code=404)  # as unrouted
        if not bearer_matches(request.headers.get("authorization", ""), token):
            response = refused(request, "a metrics scrape", 401, "missing or wrong bearer token")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        # The text format Prometheus 2.x asks for; its names and escaping are what
        # generate_latest writes (prometheus-client's "latest", 1.0.0, differs only for
        # UTF-8 metric names, which opsbook's are not).
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return routes
