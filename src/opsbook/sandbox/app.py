"""The sandbox: a small app shaped like the seed's (Next.js on Vercel + Supabase Postgres),
with switches that reproduce the seed's incidents on demand."""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.middleware.base import RequestResponseEndpoint

from opsbook.bodies import BodyError, LimitBodies, parse_json, read_json, shown, unstorable
from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.jsonout import dumps
from opsbook.responses import JSONResponse
from opsbook.sandbox import deploys, pages, providers, signatures, vercel
from opsbook.sandbox.deploys import Deployment
from opsbook.sandbox.faults import (
    FAULTS,
    PROVIDERS,
    FaultState,
    FaultUnavailable,
    FaultValueError,
)
from opsbook.sandbox.providers import STATUS_PROVIDERS
from opsbook.sandbox.settings import SandboxSettings

PAGES = ("/sign-in", "/dashboard", "/scenarios", "/settings")
SIGNED_IN = ("/dashboard", "/scenarios", "/settings", "/api/scenarios", "/api/attempts")
SESSION_COOKIE = "__session"  # Clerk's
FLAKY = (*PAGES, "/api/scenarios", "/api/attempts")
BIGINT_MAX = 2**63 - 1


def create_app(
    settings: SandboxSettings,
    *,
    clock: Clock = SYSTEM_CLOCK,
    rng: random.Random | None = None,
) -> FastAPI:
    faults = FaultState(settings.database_url)
    deployment = Deployment(settings.commit, clock)
    chance = rng or random.Random()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(faults.close)

    app = FastAPI(
        title="opsbook sandbox",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        default_response_class=JSONResponse,
    )
    app.state.faults = faults
    app.state.deployment = deployment
    app.state.vercel = fake_vercel = vercel.FakeVercel(deployment, clock)
    vercel.mount(app, fake_vercel, faults, settings.vercel_token)
    app.add_middleware(LimitBodies)  # the default limits: 8 MiB, JSON 64 deep

    @contextmanager
    def database() -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(
            settings.database_url, connect_timeout=3, application_name="sandbox", autocommit=True
        ) as conn:
            yield conn

    @app.middleware("http")
    async def inject_faults(request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if path.startswith(("/_sandbox", "/_providers", vercel.PREFIX)):  # not the app itself
            return await call_next(request)
        latency = faults.get("latency")
        if latency:
            await asyncio.sleep(latency / 1000)
        if faults.get("auth-broken") and path in SIGNED_IN:
            if path.startswith("/api/"):
                return JSONResponse({"error": "Session expired"}, status_code=401)
            return HTMLResponse(pages.session_expired(), status_code=401)
        if faults.get("signed-out") and path in SIGNED_IN and not path.startswith("/api/"):
            session = request.cookies.get(SESSION_COOKIE, "")
            if not hmac.compare_digest(session.encode(), settings.session_token.encode()):
                return RedirectResponse("/sign-in", status_code=307)
        rate = faults.get("error-rate") or deployment.error_share()
        if rate and path in FLAKY and chance.random() < rate:
            return PlainTextResponse("503: SERVICE_UNAVAILABLE", status_code=503)
        return await call_next(request)

    # --- health and version ---------------------------------------------------------

    @app.get("/api/health")
    def health() -> JSONResponse:
        if faults.get("health-500") or deployment.health_broken():
            return JSONResponse({"status": "error", "error": "internal error"}, status_code=500)
        try:
            with database() as conn:
                conn.execute("select 1")
        except psycopg.Error:
            return JSONResponse(
                {"status": "error", "error": "database unreachable"}, status_code=500
            )
        return JSONResponse({"status": "ok"})

    @app.get("/api/version")
    def version() -> dict[str, str]:
        return {"commit": faults.get("wrong-version") or deployment.current.commit}

    # --- third parties' status pages -----------------------------------------------------

    outages: dict[str, dt.datetime] = {}

    @app.get("/_providers/{slug}/api/v2/summary.json")
    def provider_status(slug: str) -> JSONResponse:
        if slug not in STATUS_PROVIDERS:
            return JSONResponse({"error": f"no status page for {shown(slug)}"}, status_code=404)
        since: dt.datetime | None = None
        if slug in (faults.get("provider-outage") or []):
            since = outages.setdefault(slug, clock.now())  # the incident began when broken
        else:
            outages.pop(slug, None)
        return JSONResponse(providers.summary(slug, outage_since=since))

    # --- pages -------------------------------------------------------------------------

    @app.get("/sign-in", response_class=HTMLResponse)
    def sign_in() -> HTMLResponse:
        if faults.get("auth-broken"):
            return HTMLResponse(pages.session_expired(), status_code=401)
        return HTMLResponse(pages.sign_in())

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard() -> HTMLResponse:
        with database() as conn:
            row = conn.execute(
                "select coalesce(sum(attempts), 0), coalesce(sum(completed), 0),"
                " avg(avg_score)::float from reporting_org_daily"
                " where day >= current_date - 30"
            ).fetchone()
        assert row is not None
        return HTMLResponse(pages.dashboard(int(row[0]), int(row[1]), row[2]))

    @app.get("/scenarios", response_class=HTMLResponse)
    def scenarios_page() -> HTMLResponse:
        with database() as conn:
            rows = conn.execute(
                "select id, title, difficulty from scenarios order by id limit 100"
            ).fetchall()
        return HTMLResponse(pages.scenarios([(r[0], r[1], r[2]) for r in rows]))

    @app.get("/settings", response_class=HTMLResponse)
    def settings_page() -> HTMLResponse:
        with database() as conn:
            row = conn.execute("select count(*) from orgs").fetchone()
        assert row is not None
        return HTMLResponse(pages.settings(int(row[0])))

    # --- API ---------------------------------------------------------------------------

    @app.get("/api/scenarios")
    def list_scenarios() -> list[dict[str, Any]]:
        with database() as conn:
            rows = conn.execute(
                "select id, org_id, title, difficulty from scenarios order by id limit 100"
            ).fetchall()
        return [{"id": r[0], "org_id": r[1], "title": r[2], "difficulty": r[3]} for r in rows]

    @app.post("/api/attempts")
    async def create_attempt(request: Request) -> JSONResponse:
        try:
            body = await read_json(request)
        except BodyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        problem = _attempt_problem(body)
        if problem:
            return JSONResponse({"error": problem}, status_code=422)
        return await asyncio.to_thread(_insert_attempt, body)

    def _insert_attempt(body: dict[str, Any]) -> JSONResponse:
        now = clock.now()
        score = body.get("score")
        with database() as conn:
            user = conn.execute(
                "select org_id from users where id = %s", (body["user_id"],)
            ).fetchone()
            if user is None:
                return JSONResponse(
                    {"error": f"unknown user_id {shown(body['user_id'])}"}, status_code=422
                )
            found = conn.execute(
                "select 1 from scenarios where id = %s", (body["scenario_id"],)
            ).fetchone()
            if found is None:
                return JSONResponse(
                    {"error": f"unknown scenario_id {body['scenario_id']!r}"}, status_code=422
                )
            row = conn.execute(
                "insert into scenario_attempts"
                " (org_id, user_id, scenario_id, started_at, ended_at, score, recording_path)"
                " values (%s, %s, %s, %s, %s, %s, %s) returning id",
                (
                    user[0],
                    body["user_id"],
                    body["scenario_id"],
                    now,
                    now if score is not None else None,
                    score,
                    body.get("recording_path"),
                ),
            ).fetchone()
        assert row is not None
        return JSONResponse(
            {
                "id": row[0],
                "started_at": now.isoformat(),
                "ended_at": now.isoformat() if score is not None else None,
            },
            status_code=201,
        )

    # --- webhooks ----------------------------------------------------------------------

    @app.post("/api/webhooks/{provider}")
    async def webhook(provider: str, request: Request) -> Response:
        if provider not in PROVIDERS or provider in (faults.get("webhook-404") or []):
            return PlainTextResponse("404: NOT_FOUND", status_code=404)
        body = await request.body()
        now = clock.now().timestamp()
        if provider == "clerk":
            if faults.get("auth-broken"):
                return JSONResponse({"error": "clerk session service failed"}, status_code=500)
            valid = signatures.svix_verify(
                settings.clerk_webhook_secret, request.headers, body, now
            )
        elif provider == "stripe":
            valid = signatures.stripe_verify(
                settings.stripe_webhook_secret,
                request.headers.get("stripe-signature"),
                body,
                now,
            )
        else:
            valid = signatures.vapi_verify(
                settings.vapi_secret, request.headers.get("x-vapi-secret")
            )
        if not valid:
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            payload = parse_json(body or b"{}")
        except BodyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        problem = unstorable(payload)
        if problem:
            return JSONResponse({"error": problem}, status_code=422)
        event_type = payload.get("type") if isinstance(payload, dict) else None
        await asyncio.to_thread(_record_webhook, provider, event_type, payload)
        return JSONResponse({"received": True})

    def _record_webhook(provider: str, event_type: Any, payload: Any) -> None:
        with database() as conn:
            conn.execute(
                "insert into webhook_events (provider, event_type, received_at, payload)"
                " values (%s, %s, %s, %s)",
                (
                    provider,
                    event_type if isinstance(event_type, str) else None,
                    clock.now(),
                    dumps(payload),
                ),
            )

    # --- fault switches (token-guarded) ------------------------------------------------

    def authorized(request: Request) -> bool:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {settings.admin_token}"
        return hmac.compare_digest(given.encode(), expected.encode())

    def denied() -> JSONResponse:
        return JSONResponse({"error": "missing or wrong admin token"}, status_code=401)

    @app.get("/_sandbox/faults")
    def list_faults(request: Request) -> JSONResponse:
        if not authorized(request):
            return denied()
        return JSONResponse(
            {
                "faults": faults.snapshot(),
                "available": {name: spec.help for name, spec in FAULTS.items()},
            }
        )

    @app.put("/_sandbox/faults/{name}")
    async def set_fault(name: str, request: Request) -> JSONResponse:
        if not authorized(request):
            return denied()
        if name not in FAULTS:
            return JSONResponse(
                {"error": f"no fault named {shown(name)}", "available": sorted(FAULTS)},
                status_code=404,
            )
        raw = await request.body()
        try:
            body = parse_json(raw) if raw else {}
        except BodyError as exc:
            return JSONResponse({"error": f"{name}: {exc}"}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse({"error": 'body must be {"value": ...}'}, status_code=400)
        try:
            value = await asyncio.to_thread(faults.set, name, body.get("value"))
        except FaultValueError as exc:
            return JSONResponse({"error": f"{name}: {exc}"}, status_code=422)
        except FaultUnavailable as exc:
            return JSONResponse({"error": f"{name}: {exc}"}, status_code=503)
        return JSONResponse({"name": name, "value": value})

    @app.delete("/_sandbox/faults/{name}")
    async def clear_fault(name: str, request: Request) -> JSONResponse:
        if not authorized(request):
            return denied()
        if name not in FAULTS:
            return JSONResponse({"error": f"no fault named {shown(name)}"}, status_code=404)
        await asyncio.to_thread(faults.clear, name)
        return JSONResponse({"name": name, "value": None})

    @app.put("/_sandbox/deploy")
    async def deploy(request: Request) -> JSONResponse:
        if not authorized(request):
            return denied()
        try:
            commit, broken = deploys.parse(parse_json(await request.body() or b"null"))
        except (BodyError, FaultValueError) as exc:
            return JSONResponse({"error": f"deploy: {exc}"}, status_code=422)
        done = deployment.deploy(commit, broken)
        made = fake_vercel.add(commit, broken)  # and a deployment the fake Vercel lists
        at = done.at.isoformat()
        return JSONResponse(
            {"commit": done.commit, "broken": done.broken, "at": at, "vercel": made.document()}
        )

    @app.delete("/_sandbox/faults")
    async def clear_faults(request: Request) -> JSONResponse:
        if not authorized(request):
            return denied()
        await asyncio.to_thread(faults.clear_all)
        return JSONResponse({"faults": {}})

    return app


def _attempt_problem(body: Any) -> str | None:
    """What is wrong with a new attempt, naming the field and the value; None if nothing.
    Bounds are the columns': bigint ids, numeric(5, 2) scores, text without NUL."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    user_id, scenario_id = body.get("user_id"), body.get("scenario_id")
    score, path = body.get("score"), body.get("recording_path")
    if not isinstance(user_id, str):
        return _needs("user_id", "text", user_id)
    if isinstance(scenario_id, bool) or not isinstance(scenario_id, int):
        return _needs("scenario_id", "integer", scenario_id)
    if not 1 <= scenario_id <= BIGINT_MAX:
        return f"scenario_id {shown(scenario_id)} is not an id (1 to {BIGINT_MAX})"
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 100
    ):
        return f"score must be a number from 0 to 100, not {shown(score)}"
    if path is not None and not isinstance(path, str):
        return f"recording_path must be text, not {shown(path)}"
    return unstorable({"user_id": user_id, "recording_path": path}, "attempt")


def _needs(field: str, kind: str, given: Any) -> str:
    return f"{field} ({kind}) is required" + ("" if given is None else f", not {shown(given)}")
