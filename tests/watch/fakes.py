"""Local stand-ins for services we cannot reach, speaking their published formats:
an Atlassian Statuspage v2 page, an Instatus page, a Prometheus query API. (The TLS and
DNS stand-ins are the sandbox's, opsbook.sandbox.standins, which the demo uses too.)"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

PAGE = {
    "id": "y2nbfq4l5kfz",
    "name": "Supabase",
    "url": "https://status.supabase.com",
    "time_zone": "Etc/UTC",
    "updated_at": "2026-03-02T09:00:00.000Z",
}


def statuspage_component(name: str, status: str) -> dict[str, Any]:
    return {
        "id": name.lower().replace(" ", "-"),
        "name": name,
        "status": status,
        "created_at": "2024-01-01T00:00:00.000Z",
        "updated_at": "2026-03-02T09:00:00.000Z",
        "position": 1,
        "description": None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": PAGE["id"],
        "group": False,
        "only_show_if_degraded": False,
    }


def statuspage_incident(name: str, status: str, impact: str) -> dict[str, Any]:
    return {
        "id": "p31zjtct2jer",
        "name": name,
        "status": status,
        "impact": impact,
        "shortlink": "https://stspg.io/p31zjtct2jer",
        "page_id": PAGE["id"],
        "created_at": "2026-03-02T08:50:00.000Z",
        "updated_at": "2026-03-02T09:00:00.000Z",
        "monitoring_at": None,
        "resolved_at": None,
        "incident_updates": [
            {
                "id": "upd1",
                "incident_id": "p31zjtct2jer",
                "status": status,
                "body": "We are investigating.",
                "display_at": "2026-03-02T08:50:00.000Z",
                "affected_components": None,
                "deliver_notifications": True,
                "created_at": "2026-03-02T08:50:00.000Z",
                "updated_at": "2026-03-02T08:50:00.000Z",
            }
        ],
    }


def statuspage_summary(
    indicator: str,
    description: str,
    components: list[dict[str, Any]],
    incidents: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "page": PAGE,
        "status": {"indicator": indicator, "description": description},
        "components": components,
        "incidents": incidents,
        "scheduled_maintenances": [],
    }


class FakeStatusPages:
    """One server, many pages: /<page>/api/v2/summary.json or /<page>/summary.json.

    `pages[page]` is (format, body): "statuspage", "instatus", "raw" (JSON text as is),
    "broken" (HTML), or absent (404)."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, Any]] = {}  # page -> (format, body)
        self.app = FastAPI()

        @self.app.get("/{page}/api/v2/summary.json")
        def v2(page: str) -> Response:
            kind, body = self.pages.get(page, ("missing", None))
            if kind == "statuspage":
                return JSONResponse(body)
            if kind == "raw":  # JSON text as given: what json.dumps would refuse to write
                return Response(body, media_type="application/json")
            if kind == "broken":
                return PlainTextResponse("<html>oops</html>", status_code=200)
            return PlainTextResponse("Not Found", status_code=404)

        @self.app.get("/{page}/summary.json")
        def instatus(page: str) -> Response:
            kind, body = self.pages.get(page, ("missing", None))
            if kind == "instatus":
                return JSONResponse(body)
            return PlainTextResponse("Not Found", status_code=404)


class FakePrometheus:
    """`answers` holds one value per query (a one-series vector, or no data for None);
    `data` a whole `data` object per query; `raw` a whole body. The headers of every
    request are kept, in order, for the tests of credentials."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.data: dict[str, Any] = {}
        self.raw: dict[str, str] = {}
        self.headers: list[dict[str, str]] = []
        self.app = FastAPI()

        @self.app.get("/api/v1/query")
        def query(query: str, request: Request) -> Response:
            self.headers.append(dict(request.headers))
            if query in self.raw:
                return PlainTextResponse(self.raw[query], media_type="application/json")
            if query in self.data:
                return JSONResponse({"status": "success", "data": self.data[query]})
            if query not in self.answers:
                return JSONResponse(
                    {
                        "status": "error",
                        "errorType": "bad_data",
                        "error": f"parse error in {query!r}",
                    },
                    status_code=400,
                )
            value = self.answers[query]
            result = [] if value is None else [{"metric": {}, "value": [1772443800, str(value)]}]
            return JSONResponse(
                {"status": "success", "data": {"resultType": "vector", "result": result}}
            )
