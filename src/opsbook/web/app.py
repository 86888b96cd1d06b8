"""`opsbook serve`: one process running the web app and the check scheduler."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from opsbook import __version__
from opsbook.clock import Clock
from opsbook.config import Config
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

    app = FastAPI(title="opsbook", version=__version__, lifespan=lifespan)

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
            payload = alertmanager.AmPayload.model_validate(await request.json())
        except (ValidationError, ValueError) as exc:
            detail = exc.errors()[0] if isinstance(exc, ValidationError) else str(exc)
            # 400, not 5xx: Alertmanager retries 5xx, and a malformed payload never improves.
            return JSONResponse(
                {"error": "not an Alertmanager v4 payload", "detail": str(detail)}, status_code=400
            )
        result = await asyncio.to_thread(alertmanager.receive, store, config, payload, clock=clock)
        return JSONResponse(result)

    return app
