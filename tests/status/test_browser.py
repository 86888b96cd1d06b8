"""The status page in a real headless Chromium (Debian's, driven by Playwright): served by a
real server on 127.0.0.1 during a P0 with public updates, a maintenance and history; with
JavaScript off; on a phone; by keyboard; and the static export opened from disk.
Screenshots go to $OPSBOOK_TEST_ARTIFACTS (else the test's tmp_path)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsbook.clock import FrozenClock
from opsbook.incidents import service as incidents
from opsbook.serving import BackgroundServer
from opsbook.status.cache import PublicCache
from opsbook.status.export import export
from opsbook.store import open_store
from opsbook.web.app import create_app
from tests.status.factories import PRIVATE_NOTE, SECRET, outage, status_config

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (scripts/ensure-system)"
    ),
]
LONG_WORD = "x" * 3000  # one unbreakable word: it must wrap, not widen the page


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


class Served:
    def __init__(self, url: str, incident_id: int, site: Path, shots: Path) -> None:
        self.url, self.incident_id, self.site, self.shots = url, incident_id, site, shots


@pytest.fixture
def served(tmp_path: Path, clock: FrozenClock) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    config = status_config(url)
    store = open_store(url)
    past = FrozenClock(clock.now() - dt.timedelta(days=3))
    with store.session() as session:
        old = incidents.open_incident(
            session, title="x", severity="P2", actor="t", clock=past, component="Database",
            message="Slow database queries.", public=True,
        )  # fmt: skip
        incidents.resolve(
            session, incident_id=old.id, actor="t", clock=past, policy=config.incidents,
            force=True, message="Queries are fast again.",
        )  # fmt: skip
    incident_id = outage(store, config, clock)
    with store.session() as session:
        incidents.update(
            session, incident_id=incident_id, actor="t", clock=clock,
            message=f"Error text seen: {LONG_WORD}", public=True,
        )  # fmt: skip
    site = tmp_path / "site"
    export(store=store, config=config, target=site, now=clock.now())
    cache = PublicCache(store, config, clock=clock)
    server = BackgroundServer(create_app(config, store, clock=clock, schedule=False, public=cache))
    shots = Path(os.environ.get("OPSBOOK_TEST_ARTIFACTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    server.start()
    try:
        yield Served(server.url, incident_id, site, shots)
    finally:
        server.stop()
        store.close()


def _everything_is_there(page: Any) -> None:
    assert page.locator("h2#overall").inner_text() == "Major System Outage"
    found = page.locator(".component h3, .component h4").all_text_contents()
    headings = [" ".join(text.split()) for text in found]
    for name, status in (("Web app", "Major outage"), ("Database", "Operational")):
        assert f"{name} {status}" in headings  # the state in words beside the name
    assert "Email Operational" in headings
    assert page.get_by_text("We are investigating failed logins.").is_visible()
    assert page.get_by_text("The cause is found; a fix is on its way.").is_visible()
    assert page.get_by_text("Database upgrade").first.is_visible()
    assert page.get_by_text("Queries are fast again.").is_visible()
    bar = page.locator("ol.bar").first
    assert bar.get_attribute("aria-label") == "Web app: uptime by day, oldest first"
    today = bar.locator("li").last
    words = today.text_content() or ""
    assert words.startswith("2 Mar: ") and "1 incident: Major outage: Web app" in words
    assert today.get_attribute("title") == words
    html = page.content()
    assert PRIVATE_NOTE not in html and SECRET not in html


def test_the_page_in_chromium(browser: Any, served: Served) -> None:
    page = browser.new_page()
    page.goto(f"{served.url}/status")
    _everything_is_there(page)
    page.screenshot(path=str(served.shots / "status.png"), full_page=True)
    # Keyboard: Tab reaches the incident's link, and its focus is drawn.
    target = f"/status/incidents/i{served.incident_id}"
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == target:
            break
    else:
        pytest.fail("Tab never reached the incident link")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{target}")
    assert page.get_by_role("heading", name="Major outage: Web app").is_visible()
    assert page.get_by_text("We are investigating failed logins.").is_visible()
    page.screenshot(path=str(served.shots / "incident.png"), full_page=True)
    page.close()


def test_without_javascript_and_on_a_phone(browser: Any, served: Served) -> None:
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 375, "height": 667}, is_mobile=True
    )
    page = context.new_page()
    page.goto(f"{served.url}/status")
    _everything_is_there(page)
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways on a phone: {width}px wide"
    page.screenshot(path=str(served.shots / "status-phone.png"), full_page=True)
    context.close()


def test_the_static_export_from_disk(browser: Any, served: Served) -> None:
    page = browser.new_page()
    page.goto((served.site / "index.html").as_uri())
    _everything_is_there(page)
    colour = page.evaluate("getComputedStyle(document.querySelector('.overall')).backgroundColor")
    assert colour == "rgb(161, 0, 28)"  # the stylesheet loaded by its relative link
    page.get_by_role("link", name="Major outage: Web app").first.click()
    assert page.url.endswith(f"/incidents/i{served.incident_id}.html")
    assert page.get_by_text("We are investigating failed logins.").is_visible()
    page.get_by_role("link", name="Back to current status").click()
    assert page.url.endswith("/site/index.html")
    page.screenshot(path=str(served.shots / "export.png"), full_page=True)
    page.close()
