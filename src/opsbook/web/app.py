"""`opsbook serve`: one process running the web app and the check scheduler."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from opsbook import __version__
from opsbook.bodies import BodyError, BodyLimits, LimitBodies, parse_json, unstorable
from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.metrics import api as metrics_api
from opsbook.metrics.collector import StoreCollector, registry
from opsbook.notify import api as notify_api
from opsbook.notify import service as notify
from opsbook.notify.customers_send import CustomersTask
from opsbook.notify.worker import OutboxWorker
from opsbook.oncall.worker import EscalationWorker
from opsbook.registry import default_registry
from opsbook.responses import JSONResponse, explain, refused
from opsbook.routines.worker import RoutineWorker
from opsbook.status import api as status_api
from opsbook.status import pages_api as status_pages
from opsbook.status.autoexport import ExportTask
from opsbook.status.cache import PublicCache
from opsbook.status.fastpath import PublicFastPath
from opsbook.store import Store
from opsbook.watch import alertmanager, service
from opsbook.watch.lag import LagMeter
from opsbook.watch.scheduler import Scheduler
from opsbook.web.auth import bearer_matches
from opsbook.web.protocol import PublicProtocol, public_protocol

log = logging.getLogger("opsbook.web")
AM = "an Alertmanager webhook"


def create_app(
    config: Config,
    store: Store,
    *,
    clock: Clock,
    schedule: bool = True,
    public: PublicCache | None = None,
) -> PublicFirst:
    """The served app: health, the Alertmanager receiver, acknowledgements from PagerDuty
    and Slack, the public status page and API (no login) and (with `schedule`) the check
    scheduler, the notification outbox worker, the escalation worker, the customer
    email rounds, the maintenance routines and the status page's static export running for
    the app's lifetime; /metrics for a Prometheus holding `serve.metrics_token`."""
    stop = asyncio.Event()
    notify.attach(store, config)  # incidents opened here (alerts) queue their pages
    cache = public or PublicCache(store, config, clock=clock)
    lag = LagMeter()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if schedule and config.checks:
            scheduler = Scheduler(config, store, clock=clock, lag=lag)
            tasks.append(asyncio.create_task(scheduler.run(stop)))
        if schedule and config.notify.channels:
            tasks.append(asyncio.create_task(OutboxWorker(config, store, clock=clock).run(stop)))
        if schedule and config.notify.customers.channel:
            tasks.append(asyncio.create_task(CustomersTask(config, store, clock=clock).run(stop)))
        if schedule and config.notify.channels and config.escalation.policies:
            escalation = EscalationWorker(config, store, clock=clock)
            tasks.append(asyncio.create_task(escalation.run(stop)))
        if schedule and config.status.export_dir:
            target = config.resolve_path(config.status.export_dir)
            exporter = ExportTask(config, store, cache, clock=clock, target=target)
            tasks.append(asyncio.create_task(exporter.run(stop)))
        if schedule and config.maintenance.routines:
            routines = RoutineWorker(config, store, default_registry(), clock=clock)
            tasks.append(asyncio.create_task(routines.run(stop)))
        yield
        stop.set()
        for task in tasks:
            await task

    app = PublicFirst(
        cache,
        title="opsbook",
        version=__version__,
        lifespan=lifespan,
        default_response_class=JSONResponse,
    )
    # Every route: bodies over serve.max_body answer 413, JSON deeper than
    # serve.max_json_depth answers 400, before any route reads them.
    limits = BodyLimits(config.serve.max_body, config.serve.max_json_depth)
    app.add_middleware(LimitBodies, limits=limits)
    app.include_router(status_api.router(cache))
    app.include_router(status_pages.router(cache, config))
    app.include_router(notify_api.router(config, store, clock=clock))
    collector = StoreCollector(
        config, store, clock=clock, lag=lag, page_builds=lambda: cache.builds
    )
    app.include_router(metrics_api.router(config, registry(collector)))

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        # A plain def: FastAPI runs it in its thread pool, never on the event loop, and its
        # count is a read that waits for no writer (an alert burst may be being stored).
        return {
            "status": "ok",
            "version": __version__,
            "checks": len(config.checks),
            "firing": service.count_open_alerts(store),
        }

    @app.post("/api/v1/alertmanager")
    async def receive(request: Request) -> JSONResponse:
        if not bearer_matches(request.headers.get("authorization", ""), config.alertmanager.token):
            return refused(request, AM, 401, "missing or wrong bearer token")
        body = await request.body()
        try:
            # Parsing and checking 8,000 alerts takes half a second: off the event loop,
            # with the store work, so /healthz and the scheduler keep their turn.
            payload = await asyncio.to_thread(_alertmanager_payload, body)
        except (ValidationError, BodyError) as exc:
            # 400, not 5xx: Alertmanager retries 5xx, and a malformed payload never improves.
            return refused(request, AM, 400, "not an Alertmanager v4 payload", explain(exc))
        result = await asyncio.to_thread(alertmanager.receive, store, config, payload, clock=clock)
        return JSONResponse(result)

    return app


class PublicFirst(FastAPI):
    """The app with `PublicFastPath` in front of all of FastAPI: in a surge, a GET of a cached
    public document costs a dictionary lookup, not FastAPI's per-request telemetry check,
    error and body-limit layers, routing and dependency solving (bench/statuspage.py).
    Served by uvicorn with `protocol()`, most such GETs are answered before even the ASGI
    cycle starts (`web/protocol.py`)."""

    def __init__(self, cache: PublicCache, **options: Any) -> None:
        super().__init__(**options)
        self._fast = PublicFastPath(super().__call__, cache)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._fast(scope, receive, send)

    def protocol(self) -> type[PublicProtocol]:
        """uvicorn's `http` protocol for serving this app (one per server)."""
        return public_protocol(self._fast)


def _alertmanager_payload(body: bytes) -> alertmanager.AmPayload:
    """The payload, refused (BodyError) when the store could not hold one of its strings."""
    data = parse_json(body)
    problem = unstorable(data, nul=True)
    if problem:
        raise BodyError(problem)
    return alertmanager.AmPayload.model_validate(data)
