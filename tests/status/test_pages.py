"""The public status page over HTTP, no login: the overall sentence, components and their
bars, active incidents with their public updates, maintenance, history pages, incident
pages, the Atom feed; hostile public text rendered as text; cached per view."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.config.loader import parse_config
from opsbook.incidents import service as incidents
from opsbook.status.cache import MEMO, PublicCache
from opsbook.status.site import Document
from opsbook.store import Store, open_store
from opsbook.web.app import create_app
from tests.status.factories import config_data, outage, past_incident, status_config

ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE = [
    "<script>alert(1)</script>",
    "[/x] [bold]markup[/bold]",
    "\x1b[31mred\x1b[0m",
    "quotes \" ' `$(rm -rf /)` ; rm -rf /",
    "nul\x00byte",
    "not characters to XML: \ufffe\uffff",
]


class Site:
    def __init__(self, tmp_path: Path, clock: FrozenClock) -> None:
        url = f"sqlite:///{tmp_path / 'opsbook.db'}"
        self.config: Config = status_config(url)
        self.store: Store = open_store(url)
        self.clock = clock
        self.cache = PublicCache(self.store, self.config, clock=clock, recheck=0)
        app = create_app(self.config, self.store, clock=clock, schedule=False, public=self.cache)
        self.client = TestClient(app)

    def html(self, path: str) -> str:
        response = self.client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        return str(response.text)


@pytest.fixture
def site(tmp_path: Path, clock: FrozenClock) -> Iterator[Site]:
    made = Site(tmp_path, clock)
    yield made
    made.store.close()


def _text(html: str) -> str:
    """What a reader sees: the text of the page, tags gone, entities decoded."""

    class Text(HTMLParser):
        parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.parts = []
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def test_the_page_tells_the_outage_in_words(site: Site) -> None:
    incident_id = outage(site.store, site.config, site.clock)

    html = site.html("/status")
    text = _text(html)

    assert '<html lang="en">' in html and '<meta name="viewport"' in html
    assert 'class="overall indicator-critical"' in html
    assert "Major System Outage" in text  # the JSON API's description, same logic
    assert site.client.get("/api/v2/status.json").json()["status"]["indicator"] == "critical"
    assert "Active incidents" in text and "Major outage: Web app" in text
    newest, oldest = "The cause is found", "We are investigating failed logins."
    assert text.index(newest) < text.index(oldest)  # newest first
    assert f'href="/status/incidents/i{incident_id}"' in html
    assert "Scheduled maintenance" in text and "Database upgrade" in text
    for name in ("Web app", "Database", "Email", "Backend"):
        assert name in text
    assert "Major outage" in text and "Operational" in text  # status in words, not colour
    assert "midnight to midnight UTC" in text
    assert re.search(r"\d+ Mar: 75% up, 1 incident: Major outage: Web app", text)
    assert "no data" in text  # the days before the first run


def test_incident_pages_and_unknown_ids(site: Site) -> None:
    incident_id = outage(site.store, site.config, site.clock)
    with site.store.session() as session:
        private = incidents.open_incident(
            session, title="quiet", severity="P2", actor="t", clock=site.clock
        )

    page = _text(site.html(f"/status/incidents/i{incident_id}"))
    assert "Major outage: Web app" in page and "We are investigating failed logins." in page
    assert "Database upgrade" in _text(site.html("/status/incidents/m1"))
    assert _text(site.html(f"/status/incidents/{incident_id}")) == page  # a bare number too
    for wrong in (
        f"i{private.id}", "i999", "m999", "abc", "i-1", "0", "1e3", "i" + "9" * 40,
        str(2**31), "9" * 5000, "%00", "i1;rm -rf", "$(id)",
    ):  # fmt: skip
        assert site.client.get(f"/status/incidents/{wrong}").status_code == 404, wrong


def test_history_pages_and_their_bounds(site: Site) -> None:
    now = site.clock.now()
    for days in (200, 100, 10):
        with site.store.session() as session:
            at = now - dt.timedelta(days=days)
            newest = past_incident(session, site.config, at, f"Slow queries, {days} days ago.")

    index = site.html("/status")
    first = site.html("/status/history")
    second = site.html("/status/history?page=2")
    third = site.html("/status/history?page=3")

    assert "Fixed." in _text(index) and 'href="/status/history?page=2"' in index
    assert "Page 1 of 3" in _text(first) and 'href="/status/history?page=2"' in first
    assert "Slow queries" not in _text(first)  # page 1 shows each incident's latest update
    assert f"i{newest - 1}" in second and "Page 2 of 3" in _text(second)
    assert 'href="/status/history"' in second and 'href="/status/history?page=3"' in second
    assert f"i{newest - 2}" in third and "Older incidents" not in _text(third)
    old = _text(site.html(f"/status/incidents/i{newest - 2}"))
    assert "Slow queries, 200 days ago." in old  # older than the view, still public
    for wrong in ("0", "4", "-1", "abc", "2.0", "9" * 400, ""):
        assert site.client.get(f"/status/history?page={wrong}").status_code == 404, wrong


def test_the_atom_feed_is_rfc_4287(site: Site) -> None:
    incident_id = outage(site.store, site.config, site.clock)
    response = site.client.get("/status/history.atom")
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    feed = ET.fromstring(response.content)

    assert feed.tag == f"{ATOM}feed"
    for field in ("id", "title", "updated"):
        assert feed.findtext(f"{ATOM}{field}")
    entries = feed.findall(f"{ATOM}entry")
    [incident] = [e for e in entries if e.findtext(f"{ATOM}title") == "Major outage: Web app"]
    for field in ("id", "title", "updated"):
        assert incident.findtext(f"{ATOM}{field}")
    link = incident.find(f"{ATOM}link")
    assert link is not None and link.get("href") == f"/status/incidents/i{incident_id}"
    content = incident.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    assert "We are investigating failed logins." in (content.text or "")
    dt.datetime.fromisoformat(feed.findtext(f"{ATOM}updated") or "")


def test_hostile_public_updates_render_as_text(site: Site) -> None:
    with site.store.session() as session:
        opened = incidents.open_incident(
            session, title="x", severity="P1", actor="t", clock=site.clock,
            component="Web app", message="first", public=True,
        )  # fmt: skip
        for body in [*HOSTILE, "A" * 100_000]:
            incidents.update(
                session, incident_id=opened.id, actor="t", clock=site.clock,
                message=body, public=True,
            )  # fmt: skip

    pages = [site.html("/status"), site.html(f"/status/incidents/i{opened.id}")]
    feed = site.client.get("/status/history.atom").content

    for html in pages:
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "\x1b" not in html and "\\x1b[31mred" in html  # shown, never obeyed
        assert "\x00" not in html and "nul\\x00byte" in html
        assert "[/x] [bold]markup[/bold]" in html
        assert "&#34;" in html or "&quot;" in html
        assert "A" * 100_000 in html
    ET.fromstring(feed)  # still well-formed XML
    assert b"<script>" not in feed and b"\x1b" not in feed and b"\x00" not in feed


def test_pages_are_rendered_once_per_view_and_revalidate(site: Site) -> None:
    outage(site.store, site.config, site.clock)
    first = site.client.get("/status")
    builds = site.cache.builds
    for _ in range(5):
        assert site.client.get("/status").content == first.content
    assert site.cache.builds == builds
    assert first.headers["cache-control"] == "public, max-age=5"
    again = site.client.get("/status", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    css = site.client.get("/status/status.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8" and b".bar" in css.content


def test_made_up_ids_never_crowd_the_real_pages_out_of_the_memo(site: Site) -> None:
    """A crawler asking for hundreds of ids that do not exist, right after a change, must
    not leave the page itself rendered anew on every request of the surge."""
    outage(site.store, site.config, site.clock)
    for n in range(MEMO + 10):
        assert site.client.get(f"/status/incidents/i{900_000 + n}").status_code == 404
    assert site.client.get("/status/history?page=999999").status_code == 404
    built = site.cache.current()
    renders: list[str] = []

    def maker(key: str) -> Callable[[], Document]:
        def render() -> Document:
            renders.append(key)
            return Document(key.encode(), "text/plain")

        return render

    for _ in range(3):
        for key in ("index", "feed", "incidents/i1"):
            assert site.cache.rendered(built, key, maker(key)) is not None
    assert renders == ["index", "feed", "incidents/i1"]  # each once for the view


def test_names_from_the_config_that_xml_cannot_carry_keep_the_feed_well_formed(
    tmp_path: Path, clock: FrozenClock
) -> None:
    url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    data = config_data(url)
    data["status"]["name"] = "Example \ufffe\uffff Status"
    data["status"]["components"][0]["name"] = "Web \uffff app"
    config = parse_config(yaml.safe_dump(data), file="opsbook.yaml", env={})
    store = open_store(url)
    try:
        outage(store, config, clock)
        cache = PublicCache(store, config, clock=clock, recheck=0)
        client = TestClient(create_app(config, store, clock=clock, schedule=False, public=cache))
        feed = client.get("/status/history.atom")
        page = client.get("/status")
    finally:
        store.close()
    assert feed.status_code == page.status_code == 200
    root = ET.fromstring(feed.content)
    assert root.findtext(f"{ATOM}title") == "Example \\ufffe\\uffff Status: incident history"
    assert "Web \\uffff app" in page.text and "\uffff" not in page.text
