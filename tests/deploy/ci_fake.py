"""A CI on 127.0.0.1 answering GitHub's combined status
(`GET /repos/{owner}/{repo}/commits/{ref}/status`): `{"state", "sha", "total_count",
"statuses": [{"state", "context", "description"}]}`, or whatever raw body a test sets."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from opsbook.serving import BackgroundServer


class FakeCI:
    def __init__(self) -> None:
        self.state = "success"
        self.sha: str | None = None  # None: the ref asked for, as GitHub answers a full sha
        self.contexts: dict[str, str] = {"ci/tests": "success"}
        self.raw: tuple[int, bytes] | None = None  # answered as is when set
        self.requests: list[dict[str, Any]] = []
        self.server = BackgroundServer(self._app()).start()
        self.url = f"{self.server.url}/repos/acme/app/commits/{{commit}}/status"

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/repos/{owner}/{repo}/commits/{ref}/status")
        async def status(ref: str, request: Request) -> Response:
            self.requests.append({"ref": ref, "headers": dict(request.headers)})
            if self.raw is not None:
                code, body = self.raw
                return Response(body, status_code=code, media_type="application/json")
            document = {
                "state": self.state,
                "sha": self.sha or ref,
                "total_count": len(self.contexts),
                "statuses": [
                    {"state": s, "context": c, "description": f"{c} {s}"}
                    for c, s in self.contexts.items()
                ],
            }
            return Response(json.dumps(document), media_type="application/json")

        return app

    def stop(self) -> None:
        self.server.stop()
