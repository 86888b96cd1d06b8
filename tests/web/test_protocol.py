"""The public fast path at uvicorn's parser, on a real socket: cached documents answered as
the app answers them, everything else (and every request it must not answer) reaching the
app in order, slow readers and pipelines, hostile headers, and a public update served on
the first request after the cache's check."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy import func, select
from uvicorn.server import ServerState

from opsbook.clock import FrozenClock
from opsbook.incidents import service as incidents
from opsbook.incidents.models import Incident
from opsbook.serving import BackgroundServer
from opsbook.status.fastpath import PublicFastPath
from opsbook.web.protocol import public_protocol
from tests.conftest import wait_for
from tests.status.test_fastpath import HOSTILE, PATHS, Site

STAND_IN = 599  # what the stand-in app behind the protocol answers


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Served:
    """A real server whose protocol answers from `site`'s cache and whose app is a stand-in
    that records what reached it: a 200 from it can only be the protocol's."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.routed: list[str] = []
        stand_in = FastAPI()

        @stand_in.api_route("/{path:path}", methods=["GET", "HEAD", "POST"])
        async def anything(request: Request) -> Response:
            await request.body()
            self.routed.append(f"{request.method} {request.url.path}")
            return Response(b"routed", status_code=STAND_IN)

        fast = PublicFastPath(stand_in, site.cache)
        self.server = BackgroundServer(stand_in, http=public_protocol(fast)).start()

    def exchange(self, raw: bytes, replies: int) -> list[Reply]:
        """Send `raw` in one write (pipelined requests), then read `replies` answers."""
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=15) as conn:
            conn.sendall(raw)
            stream = conn.makefile("rb")
            return [_read(stream) for _ in range(replies)]


def _read(stream: socket.SocketIO | object) -> Reply:
    assert hasattr(stream, "readline") and hasattr(stream, "read")
    status = int(stream.readline().split()[1])
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", "0")))
    return Reply(status, headers, body)


def _get(path: str, *extra: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *extra, "", ""]
    return "\r\n".join(lines).encode("latin-1")


@pytest.fixture
def site(tmp_path: Path, clock: FrozenClock) -> Iterator[Site]:
    made = Site(tmp_path, clock)
    for path in PATHS:  # the routes render each page into the memo once
        assert made.client.get(path).status_code == 200
    yield made
    made.store.close()


@pytest.fixture
def served(site: Site) -> Iterator[Served]:
    made = Served(site)
    yield made
    made.server.stop()


def _same(reply: Reply, routed: httpx.Response) -> bool:
    ours = {k: v for k, v in reply.headers.items() if k not in ("date", "server")}
    theirs = {k: v for k, v in routed.headers.items() if k not in ("date", "server")}
    return reply.body == routed.content and ours == theirs and reply.status == routed.status_code


def test_cached_documents_are_answered_by_the_protocol_as_the_app_answers_them(
    served: Served, site: Site
) -> None:
    for path in PATHS:
        (reply,) = served.exchange(_get(path), 1)
        assert _same(reply, site.client.get(path))
        assert reply.headers["server"] == "uvicorn" and reply.headers["date"]
        tag = reply.headers["etag"]
        (again,) = served.exchange(_get(path, f"If-None-Match: {tag}"), 1)
        assert again.status == 304 and again.body == b"" and "content-length" not in again.headers
        assert _same(again, site.client.get(path, headers={"If-None-Match": tag}))
    assert served.routed == []
    (summary,) = served.exchange(_get("/api/v2/summary.json"), 1)
    assert summary.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(summary.body)["incidents"][0]["impact"] == "critical"


@pytest.mark.parametrize(
    "raw",
    [
        b"HEAD /status HTTP/1.1\r\nHost: x\r\n\r\n",
        _get("/status?page=1"),
        _get("/st%61tus"),
        _get("/status/"),
        _get("/STATUS"),
        b"POST /api/v2/summary.json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        b"GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        b"GET /status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /status HTTP/1.0\r\nHost: x\r\n\r\n",
        _get("/status", "Connection: close"),
        _get("/status", "Connection: upgrade", "Upgrade: h2c"),
    ],
)
def test_what_the_protocol_must_not_answer_reaches_the_app(served: Served, raw: bytes) -> None:
    (reply,) = served.exchange(raw, 1)
    assert reply.status == STAND_IN
    assert len(served.routed) == 1


def test_pipelined_requests_are_answered_in_order(served: Served, site: Site) -> None:
    """Behind a request the app is answering, the protocol answers nothing: uvicorn queues
    the rest for the app (which, in serve, answers them from the same cache)."""
    page = site.client.get("/status")
    post = b"POST /api/v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n; rm -rf "
    tag = f"If-None-Match: {page.headers['etag']}"
    raw = b"".join([_get("/status"), _get("/status", tag), post, _get("/api/v2/summary.json")])
    replies = served.exchange(raw + _get("/status"), 5)
    assert [r.status for r in replies] == [200, 304, STAND_IN, STAND_IN, STAND_IN]
    assert replies[0].body == page.content
    assert served.routed == ["POST /api/v1/x", "GET /api/v2/summary.json", "GET /status"]
    (after,) = served.exchange(_get("/status"), 1)
    assert after.status == 200 and len(served.routed) == 3


def test_a_reader_that_does_not_read_gets_its_answers_from_the_app_in_order(
    served: Served, site: Site
) -> None:
    """Past the transport's buffer (a reader that pipelines and does not read), the rest
    waits in uvicorn's cycle for the reader: the process does not buffer every answer."""
    page = site.client.get("/status").content
    count = max(200, 16 * 1024 * 1024 // len(page))  # past any socket buffer's bytes
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.settimeout(15)
        conn.connect(("127.0.0.1", served.server.port))
        conn.sendall(_get("/status") * count)
        wait_for(lambda: served.routed != [])  # writing paused: the app was asked
        stream = conn.makefile("rb")
        replies = [_read(stream) for _ in range(count)]
    statuses = [r.status for r in replies]
    first = statuses.index(STAND_IN)
    assert first > 0 and all(r.body == page for r in replies[:first])
    assert statuses[first:] == [STAND_IN] * (count - first)  # in order, every one answered
    assert len(served.routed) == count - first


@pytest.mark.parametrize("tag", [*HOSTILE, "[/x]\x1b]8;;http://x\x07", "ü-not-ascii", "a\x00b"])
def test_hostile_if_none_match_is_no_match(served: Served, site: Site, tag: str) -> None:
    (reply,) = served.exchange(_get("/status", f"If-None-Match: {tag}"), 1)
    if any(ord(c) < 0x20 for c in tag):  # control characters: the parser refuses the request
        assert reply.status == 400 and b"<html" not in reply.body
    else:
        assert reply.status == 200 and reply.body == site.client.get("/status").content
    assert served.routed == []


def test_a_public_update_is_served_on_the_first_request_after_the_check(
    site: Site, clock: FrozenClock
) -> None:
    """The bound is the cache's: `recheck` seconds (1 in serve) after the commit."""
    server = BackgroundServer(site.app, http=site.app.protocol()).start()
    message = "Logins work again; calls recover."
    try:
        with httpx.Client(base_url=server.url) as client:
            before = client.get("/status").content
            with site.store.session() as session:
                opened = session.scalar(select(func.max(Incident.id))) or 0
                incidents.update(
                    session, incident_id=opened, actor="t", clock=clock,
                    status="monitoring", message=message, public=True,
                )  # fmt: skip
            assert client.get("/status").content == before  # within the bound: cached
            site.ticks.now += site.cache.recheck
            assert message in client.get("/status").text  # the first request after it
            assert message in client.get("/api/v2/summary.json").text
            assert message in client.get("/status").text  # and answered fast from then on
    finally:
        server.stop()
    assert site.cache.builds == 2


class Transport(asyncio.Transport):
    """The socket under one connection: what was written, whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def writelines(self, data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.written.append(b"".join(bytes(part) for part in data))

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8400) if name in ("sockname", "peername") else default


def test_pipelined_answers_leave_one_keep_alive_timer(site: Site) -> None:
    """Two requests in one read, each answered here: the first one's idle timer must not
    survive to close the connection while the client goes on using it."""
    loop = asyncio.new_event_loop()
    try:
        config = uvicorn.Config(site.app, lifespan="off")
        config.load()
        fast = PublicFastPath(site.app, site.cache)
        protocol = public_protocol(fast)(
            config=config, server_state=ServerState(), app_state={}, _loop=loop
        )
        transport = Transport()
        protocol.connection_made(transport)
        protocol.timeout_keep_alive = 0  # due at once, if it survives
        protocol.data_received(_get("/status") * 2)
        protocol.timeout_keep_alive = 60
        protocol.data_received(_get("/api/v2/summary.json"))  # in use again: a new timer
        loop.run_until_complete(asyncio.sleep(0.1))
        assert len(transport.written) == 3 and not transport.closed
        protocol.timeout_keep_alive_handler()  # what the last timer does, once idle
        assert transport.closed
    finally:
        loop.close()
