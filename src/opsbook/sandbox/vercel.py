"""A fake of Vercel's deployments API (FORMATS.md), served by the sandbox under /_vercel.

Each `opsbook sandbox deploy` becomes a READY production deployment of project
`prj_sandbox` (uid, url, state, target, created in ms, meta.githubCommitSha, newest
first); `POST /v10/projects/{id}/promote/{uid}` (and `/v1/.../rollback/{uid}`) answers
202 and switches what the sandbox serves to that deployment, breakage and all, as a
promote on Vercel switches the production alias. A bearer token is required: none (or
not a bearer) answers 401, a wrong one 403, like Vercel's `invalidToken` answer. Three
fault switches make it misbehave: `vercel-refuses` (every token refused, 401 or 403),
`vercel-stuck` (a promote is accepted and never served) and `vercel-promote-fails` (a
promote is acted on, then answered with a 500)."""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request

from opsbook.clock import Clock
from opsbook.responses import JSONResponse
from opsbook.sandbox.deploys import Broken, Deployment
from opsbook.sandbox.faults import FaultState

PREFIX = "/_vercel"
PROJECT = "prj_sandbox"


@dataclass(frozen=True)
class FakeDeployment:
    uid: str
    url: str
    commit: str
    broken: Broken | None
    created: int  # ms since the epoch, as Vercel writes it

    def document(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "name": "voiceaitraining",
            "url": self.url,
            "created": self.created,
            "state": "READY",
            "readyState": "READY",
            "target": "production",
            "type": "LAMBDAS",
            "meta": {"githubCommitSha": self.commit, "githubCommitRef": "main"},
            "creator": {"uid": "usr_sandbox", "username": "sandbox"},
        }


class FakeVercel:
    """The project's deployments; `extra` holds raw documents listed as given (tests put
    hostile ones there)."""

    def __init__(self, deployment: Deployment, clock: Clock) -> None:
        self._deployment, self._clock = deployment, clock
        self._lock = threading.Lock()
        self.deployments: list[FakeDeployment] = []
        self.extra: list[Any] = []
        self.promoted: list[str] = []
        now = deployment.current
        self.add(now.commit, now.broken)

    def add(self, commit: str, broken: Broken | None) -> FakeDeployment:
        with self._lock:
            n = len(self.deployments) + 1
            made = FakeDeployment(
                uid=f"dpl_sandbox{n:04d}{commit[:7]}",
                url=f"voiceaitraining-{commit[:9].lower()}-{n}.vercel.app",
                commit=commit,
                broken=broken,
                created=int(self._clock.now().timestamp() * 1000) + n,
            )
            self.deployments.append(made)
            return made

    def listing(self) -> list[Any]:
        with self._lock:
            found = sorted(self.deployments, key=lambda d: d.created, reverse=True)
            return [d.document() for d in found] + list(self.extra)

    def find(self, uid: str) -> FakeDeployment | None:
        with self._lock:
            return next((d for d in self.deployments if d.uid == uid), None)

    def promote(self, made: FakeDeployment, *, serve: bool) -> None:
        with self._lock:
            self.promoted.append(made.uid)
        if serve:
            self._deployment.deploy(made.commit, made.broken)


def _error(status: int, code: str, message: str, **more: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **more}}, status_code=status)


def mount(app: FastAPI, fake: FakeVercel, faults: FaultState, token: str) -> None:
    """Add the fake's routes to the sandbox app."""

    def refused(request: Request) -> JSONResponse | None:
        given = request.headers.get("authorization", "")
        forced = faults.get("vercel-refuses")
        if forced == 401 or not given.startswith("Bearer "):
            return _error(401, "not_authenticated", "Missing or malformed authentication")
        expected = f"Bearer {token}"
        if forced == 403 or not hmac.compare_digest(given.encode(), expected.encode()):
            return _error(403, "forbidden", "Not authorized", invalidToken=True)
        return None

    @app.get(f"{PREFIX}/v6/deployments")
    def list_deployments(request: Request) -> JSONResponse:
        denied = refused(request)
        if denied is not None:
            return denied
        if request.query_params.get("projectId") != PROJECT:
            return _error(404, "not_found", "Project not found")
        found = fake.listing()
        page = {"count": len(found), "next": None, "prev": None}
        return JSONResponse({"deployments": found, "pagination": page})

    async def promote(project: str, uid: str, request: Request) -> JSONResponse:
        denied = refused(request)
        if denied is not None:
            return denied
        if project != PROJECT:
            return _error(404, "not_found", "Project not found")
        made = fake.find(uid)
        if made is None:
            return _error(404, "not_found", "Deployment not found")
        fake.promote(made, serve=not faults.get("vercel-stuck"))
        if faults.get("vercel-promote-fails"):  # acted, then failed to say so
            return _error(500, "internal_server_error", "An unexpected error occurred")
        return JSONResponse({}, status_code=202)

    app.add_api_route(
        f"{PREFIX}/v10/projects/{{project}}/promote/{{uid}}", promote, methods=["POST"]
    )
    app.add_api_route(
        f"{PREFIX}/v1/projects/{{project}}/rollback/{{uid}}", promote, methods=["POST"]
    )
