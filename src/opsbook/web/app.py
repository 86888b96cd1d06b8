"""`opsbook serve`: one process running the web app and the check scheduler."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from pydantic import ValidationError

from opsbook import __version__
from opsbook.bodies import BodyError, BodyLimits, LimitBodies, parse_json, shown, unstorable
from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.secrets import Secret
from opsbook.notify import service as notify
from opsbook.notify.worker import OutboxWorker
from opsbook.oncall.worker import EscalationWorker
from opsbook.responses import JSONResponse
from opsbook.status import api as status_api
from opsbook.status.cache import PublicCache
from opsbook.store import Store
from opsbook.watch import alertmanager, service
from opsbook.watch.scheduler import Scheduler

log = logging.getLogger("opsbook.web")


def create_app(
    config: Config,
    store: Store,
    *,
    clock: Clock,
    schedule: bool = True,
    public: PublicCache | None = None,
) -> FastAPI:
    """The served app: health, the Alertmanager receiver, the public status API (no login)
    and (with `schedule`) the check scheduler, the notification outbox worker and the
    escalation worker running for the app's lifetime."""
    stop = asyncio.Event()
    notify.attach(store, config)  # incidents opened here (alerts) queue their pages

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if schedule and config.checks:
            tasks.append(asyncio.create_task(Scheduler(config, store, clock=clock).run(stop)))
        if schedule and config.notify.channels:
            tasks.append(asyncio.create_task(OutboxWorker(config, store, clock=clock).run(stop)))
        if schedule and config.notify.channels and config.escalation.policies:
            escalation = EscalationWorker(config, store, clock=clock)
            tasks.append(asyncio.create_task(escalation.run(stop)))
        yield
        stop.set()
        for task in tasks:
            await task

    app = FastAPI(
        title="opsbook",
        version=__version__,
        lifespan=lifespan,
        default_response_class=JSONResponse,
    )
    # Every route: bodies over serve.max_body answer 413, JSON deeper than
    # serve.max_json_depth answers 400, before any route reads them.
    limits = BodyLimits(config.serve.max_body, config.serve.max_json_depth)
    app.add_middleware(LimitBodies, limits=limits)
    app.include_router(status_api.router(public or PublicCache(store, config, clock=clock)))

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
            return _refused(request, 401, "missing or wrong bearer token")
        body = await request.body()
        try:
            # Parsing and checking 8,000 alerts takes half a second: off the event loop,
            # with the store work, so /healthz and the scheduler keep their turn.
            payload = await asyncio.to_thread(_alertmanager_payload, body)
        except (ValidationError, BodyError) as exc:
            # 400, not 5xx: Alertmanager retries 5xx, and a malformed payload never improves.
            return _refused(request, 400, "not an Alertmanager v4 payload", _explain(exc))
        result = await asyncio.to_thread(alertmanager.receive, store, config, payload, clock=clock)
        return JSONResponse(result)

    return app


def bearer_matches(header: str, token: Secret | None) -> bool:
    """An Authorization header carrying the token. The scheme is case-insensitive (RFC 9110
    11.1: `bearer` and `BEARER` are Bearer); the token is compared in constant time."""
    scheme, _, credentials = header.partition(" ")
    if token is None or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.lstrip(" ").encode(), token.reveal().encode())


def _refused(request: Request, status: int, error: str, detail: str | None = None) -> JSONResponse:
    """The refusal answered, and one line on serve's output naming the sender: a
    misconfigured Alertmanager is otherwise silent (it drops what a 4xx refused)."""
    client = request.client
    sender = f"{client.host}:{client.port}" if client else "an unknown sender"
    why = f"{error}: {shown(detail)}" if detail else error
    log.warning("refused an Alertmanager webhook from %s (%d): %s", sender, status, why)
    body = {"error": error} | ({"detail": detail} if detail else {})
    return JSONResponse(body, status_code=status)


def _alertmanager_payload(body: bytes) -> alertmanager.AmPayload:
    """The payload, refused (BodyError) when the store could not hold one of its strings."""
    data = parse_json(body)
    problem = unstorable(data, nul=True)
    if problem:
        raise BodyError(problem)
    return alertmanager.AmPayload.model_validate(data)


def _explain(exc: ValidationError | BodyError) -> str:
    """The first problem in words, naming the field: `alerts.0.status: Input should be...`.
    (The input itself is left out: it may be a megabyte long.)"""
    if isinstance(exc, BodyError):
        return str(exc)
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])
