"""Only public data, ever: private notes, a configured secret, internal check names and
URLs and an internal host name are planted everywhere opsbook keeps them, then every
public document (the JSON API, the HTML pages, the feed, every exported file) is fetched
and searched for them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.testclient import TestClient

from opsbook.clock import FrozenClock
from opsbook.incidents import service as incidents
from opsbook.status import maintenance
from opsbook.status.cache import PublicCache
from opsbook.status.export import export
from opsbook.status.statuspage import DOCUMENTS
from opsbook.store import open_store
from opsbook.web.app import create_app
from tests.status.factories import (
    INTERNAL_HOST,
    PRIVATE_NOTE,
    SECRET,
    later,
    record,
    status_config,
)


def test_no_public_document_holds_private_data(
    store_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    config = status_config(store_url)
    store = open_store(store_url)
    try:
        # A failing check opens an incident whose title and timeline name the host.
        record(store, config, clock, api_health_int="down", pg_main="down")
        with store.session() as session:
            opened = incidents.open_incident(
                session, title=f"{INTERNAL_HOST} refuses connections", severity="P0",
                actor="t", clock=clock, component="pg-main",
                message=f"{INTERNAL_HOST} is down", public=False,
            )  # fmt: skip
            incidents.note(
                session, incident_id=opened.id, actor="t", clock=clock, text=PRIVATE_NOTE
            )
            incidents.update(
                session, incident_id=opened.id, actor="t", clock=clock,
                message=f"Logins fail for some customers. token={SECRET}", public=True,
            )  # fmt: skip
            incidents.update(
                session, incident_id=opened.id, actor="t", clock=clock, status="identified",
                message=f"private: {INTERNAL_HOST} disk full", public=False,
            )  # fmt: skip
            maintenance.schedule(
                session=session, status=config.status, title="Database upgrade",
                components=["Database"], start=clock.now() + dt.timedelta(hours=1),
                end=clock.now() + dt.timedelta(hours=2), actor="t", clock=clock,
            )  # fmt: skip
        later(clock)
        cache = PublicCache(store, config, clock=clock, recheck=0)
        client = TestClient(create_app(config, store, clock=clock, schedule=False, public=cache))
        bodies = {path: client.get(f"/api/v2/{path}").text for path in DOCUMENTS}
        pages = [
            "/status", "/status/history", "/status/history.atom", f"/status/incidents/i{opened.id}",
            "/status/incidents/m1", "/status/status.css",
        ]  # fmt: skip
        for path in pages:
            response = client.get(path)
            assert response.status_code == 200, path
            bodies[path] = response.text
        export(store=store, config=config, target=tmp_path / "site", now=clock.now())
        for file in (tmp_path / "site").rglob("*"):
            if file.is_file():
                bodies[str(file)] = file.read_text()
    finally:
        store.close()
    summary = bodies["summary.json"]
    assert "Logins fail for some customers." in summary  # the public update is there
    assert "Logins fail for some customers." in bodies["/status"]
    assert "Logins fail for some customers." in bodies[str(tmp_path / "site" / "index.html")]
    assert len(bodies) > 25
    assert "Database upgrade" in bodies["scheduled-maintenances.json"]
    internal = [
        SECRET, INTERNAL_HOST, PRIVATE_NOTE, "rolled back", "disk full", "refuses connections",
        "api-health-int", "api-version-int", "pg-main", "mail-dns", "http://", "10.1.2.3",
    ]  # fmt: skip
    for path, text in bodies.items():
        body = text.replace('xmlns="http://www.w3.org/2005/Atom"', "")  # the feed's namespace
        for planted in internal:
            assert planted not in body, (path, planted)
