"""Cached public documents answered before routing: the same bytes and headers the routes
give, 304s, and every request the fast path must not answer (stale cache, page not rendered,
a body, a query, another method or path) handed on to the app, hostile headers included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from opsbook.clock import FrozenClock
from opsbook.serving import BackgroundServer
from opsbook.status.cache import PublicCache
from opsbook.status.fastpath import GRACE, PublicFastPath
from opsbook.store import open_store
from opsbook.web.app import create_app
from tests.status.factories import outage, status_config

PATHS = ["/status", "/status/status.css", "/status/history.atom", "/api/v2/summary.json"]
HOSTILE = [
    '"; rm -rf /', "$(reboot)", "`id`", "'quoted'", "[/x][bold]", "\x1b[31mred", "W/\"x\"",
    "*", "9" * 4000,
]  # fmt: skip


class Ticks:
    """The cache's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Site:
    def __init__(self, tmp_path: Path, clock: FrozenClock) -> None:
        url = f"sqlite:///{tmp_path / 'state.db'}"
        self.config, self.store, self.ticks = status_config(url), open_store(url), Ticks()
        outage(self.store, self.config, clock)
        self.cache = PublicCache(
            self.store, self.config, clock=clock, recheck=60, monotonic=self.ticks
        )
        self.app = create_app(
            self.config, self.store, clock=clock, schedule=False, public=self.cache
        )
        self.client = TestClient(self.app)
        self.routed: list[str] = []  # what the stand-in behind a bare fast path was asked
        self.fast = TestClient(PublicFastPath(self._downstream, self.cache))

    async def _downstream(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # a stand-in with nothing to start
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.routed.append(f"{scope['method']} {scope['path']}")
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b"routed"})


@pytest.fixture
def site(tmp_path: Path, clock: FrozenClock) -> Iterator[Site]:
    made = Site(tmp_path, clock)
    for path in PATHS:  # the routes render each page into the memo once
        assert made.client.get(path).status_code == 200
    with made.fast:  # one event loop for every request, as in serve
        yield made
    made.store.close()


def _headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in ("date", "server")}


def test_fresh_documents_are_answered_without_routing_and_as_the_routes_answer(
    site: Site,
) -> None:
    for path in PATHS:
        fast, routed = site.fast.get(path), site.client.get(path)
        assert fast.status_code == 200 and fast.content == routed.content
        assert _headers(fast) == _headers(routed)
        assert fast.headers["content-length"] == str(len(fast.content))
        assert fast.headers["cache-control"] == "public, max-age=5"
        again = site.fast.get(path, headers={"If-None-Match": fast.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert _headers(again) == _headers(
            site.client.get(path, headers={"If-None-Match": fast.headers["etag"]})
        )
    assert site.routed == []
    summary = site.fast.get("/api/v2/summary.json")
    assert summary.headers["content-type"] == "application/json; charset=utf-8"
    assert summary.headers["access-control-allow-origin"] == "*"
    assert json.loads(summary.content)["incidents"][0]["impact"] == "critical"


def test_what_the_cache_cannot_answer_goes_on_to_the_app(site: Site) -> None:
    assert site.fast.get("/status?page=2").status_code == 599  # a query: the routes read it
    assert site.fast.head("/status").status_code == 599
    assert site.fast.post("/api/v2/summary.json").status_code == 599
    assert site.fast.request("GET", "/status", content=b"{}").status_code == 599  # a body
    assert site.fast.get("/status/history").status_code == 599  # not a cached document
    assert site.fast.get("/healthz").status_code == 599
    assert site.fast.get("/status/").status_code == 599
    assert len(site.routed) == 7


def test_a_view_due_for_a_check_goes_to_the_routes_and_meanwhile_is_answered(
    site: Site,
) -> None:
    site.ticks.now += 61  # due: this request goes on to ask the store
    assert site.fast.get("/status").status_code == 599
    # While a request is asking (it holds the cache's lock), the others get the bytes held.
    with site.cache._lock:
        assert site.fast.get("/status").status_code == 200
        assert site.fast.get("/api/v2/summary.json").status_code == 200
        site.ticks.now += GRACE  # a store that does not answer: wait for it in the routes
        assert site.fast.get("/status").status_code == 599
    assert site.routed == ["GET /status", "GET /status"]
    site.cache.current()
    assert site.fast.get("/status").status_code == 200
    assert site.cache.builds == 1  # nothing changed: the same view, checked again


def test_a_page_not_rendered_for_this_view_goes_on_to_the_routes(
    tmp_path: Path, clock: FrozenClock
) -> None:
    made = Site(tmp_path, clock)
    made.cache.current()  # a fresh view, no page rendered from it yet
    assert made.fast.get("/status").status_code == 599
    assert made.fast.get("/api/v2/summary.json").status_code == 200  # built with the view
    page = made.client.get("/status")  # the route renders it; then it is served fast
    assert made.fast.get("/status").content == page.content
    made.store.close()


@pytest.mark.parametrize("tag", HOSTILE)
def test_hostile_if_none_match_is_no_match(site: Site, tag: str) -> None:
    for path in ("/status", "/api/v2/summary.json"):
        response = site.fast.get(path, headers={"If-None-Match": tag})
        assert response.status_code == 200 and response.content == site.client.get(path).content
    assert site.routed == []


def test_bodies_sent_with_a_get_still_meet_the_limits(site: Site) -> None:
    deep = b"[" * 100 + b"]" * 100
    assert site.client.request("GET", "/status", content=deep).status_code == 400
    big = b"x" * (site.config.serve.max_body + 1)
    assert site.client.request("GET", "/api/v2/summary.json", content=big).status_code == 413
    nul = site.client.get("/status%00;%20rm%20-rf%20/")
    assert nul.status_code == 404 and b"rm -rf" not in nul.content


def test_a_real_server_answers_a_keep_alive_surge_from_the_cache(site: Site) -> None:
    server = BackgroundServer(site.app).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            bodies = {client.get("/status").content for _ in range(50)}
            summary = client.get("/api/v2/summary.json")
    finally:
        server.stop()
    assert bodies == {site.client.get("/status").content}
    assert summary.status_code == 200 and json.loads(summary.content)["page"]["name"]
    assert site.cache.builds == 1
