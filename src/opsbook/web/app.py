"""`opsbook serve`: one process running the web app and the check scheduler."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from pydantic import ValidationError

from opsbook import __version__
from opsbook.bodies import BodyError, BodyLimits, LimitBodies, read_json, unstorable
from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.responses import JSONResponse
from opsbook.store import Store
from opsbook.watch import alertmanager, service
from opsbook.watch.scheduler import Scheduler


def create_app(config: Config, store: Store, *, clock: Clock, schedule: bool = True) -> FastAPI:
    """The served app: health, the Alertmanager receiver and (with `schedule`) the check
    scheduler running for the app's lifetime."""
    stop = asyncio.Event()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = None
        if schedule and config.checks:
            task = asyncio.create_task(Scheduler(config, store, clock=clock).run(stop))
        yield
        stop.set()
        if task is not None:
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

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "checks": len(config.checks),
            "firing": len(service.open_alerts(store)),
        }

    @app.post("/api/v1/alertmanager")
    async def receive(request: Request) -> JSONResponse:
        token = config.alertmanager.token
        given = request.headers.get("authorization", "")
        if token is None or not hmac.compare_digest(
            given.encode(), f"Bearer {token.reveal()}".encode()
        ):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        try:
            payload = _alertmanager_payload(await read_json(request))
        except (ValidationError, BodyError) as exc:
            # 400, not 5xx: Alertmanager retries 5xx, and a malformed payload never improves.
            return JSONResponse(
                {"error": "not an Alertmanager v4 payload", "detail": _explain(exc)},
                status_code=400,
            )
        result = await asyncio.to_thread(alertmanager.receive, store, config, payload, clock=clock)
        return JSONResponse(result)

    return app


def _alertmanager_payload(data: object) -> alertmanager.AmPayload:
    """The payload, refused (BodyError) when the store could not hold one of its strings."""
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
