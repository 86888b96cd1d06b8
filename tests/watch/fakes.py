"""Local stand-ins for services we cannot reach, speaking their published formats:
an Atlassian Statuspage v2 page, an Instatus page, a Prometheus query API, a TLS
server with a certificate of chosen age, and a DNS server with chosen TXT records."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
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


def make_certificate(folder: Path, days: int) -> tuple[Path, Path]:
    cert, key = folder / f"cert-{days}.pem", folder / f"key-{days}.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            str(days),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class TlsServer:
    """Accepts TLS connections and completes the handshake; enough for an expiry check."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    def close(self) -> None:
        self.sock.close()


class DnsServer:
    """A UDP DNS server answering TXT queries from a dict (name -> records)."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = {k.rstrip(".") + ".": v for k, v in records.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text()
            if question.rdtype == dns.rdatatype.TXT and name in self.records:
                texts = [f'"{t}"' for t in self.records[name]]
                response.answer.append(
                    dns.rrset.from_text_list(name, 300, dns.rdataclass.IN, dns.rdatatype.TXT, texts)
                )
            elif name not in self.records:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()
