"""The public status API, served by the app without login, checked field by field against
Statuspage v2's published shape, over real stored check results and incidents."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import service as incidents
from opsbook.status import maintenance
from opsbook.status.cache import PublicCache
from opsbook.status.statuspage import DOCUMENTS
from opsbook.store import Store, open_store
from opsbook.web.app import create_app
from tests.status.factories import later, record, status_config

PAGE = {"id", "name", "url", "time_zone", "updated_at"}
COMPONENT = {
    "id", "name", "status", "created_at", "updated_at", "position", "description",
    "showcase", "start_date", "group_id", "page_id", "group", "only_show_if_degraded",
}  # fmt: skip
INCIDENT = {
    "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at",
    "impact", "shortlink", "started_at", "page_id", "incident_updates", "components",
}  # fmt: skip
UPDATE = {
    "id", "status", "body", "incident_id", "created_at", "updated_at", "display_at",
    "affected_components", "deliver_notifications", "custom_tweet", "tweet_id",
}  # fmt: skip
COMPONENT_STATUSES = {
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance",
}  # fmt: skip


class Page:
    """The app over one store and config, the clock held by the test."""

    def __init__(self, config: Config, store: Store, clock: FrozenClock) -> None:
        self.config, self.store, self.clock = config, store, clock
        self.cache = PublicCache(store, config, clock=clock, recheck=0)
        app = create_app(config, store, clock=clock, schedule=False, public=self.cache)
        self.client = TestClient(app)

    def get(self, path: str) -> Any:
        response = self.client.get(f"/api/v2/{path}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        return json.loads(response.content)


@pytest.fixture
def page(store_url: str, clock: FrozenClock) -> Iterator[Page]:
    config = status_config(store_url)
    store = open_store(store_url)
    yield Page(config, store, clock)
    store.close()


def _when(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    assert moment.utcoffset() is not None
    return moment


def _check_component(c: dict[str, Any], page_id: str) -> None:
    assert set(c) - {"components"} == COMPONENT
    assert isinstance(c["id"], str) and c["page_id"] == page_id
    assert c["status"] in COMPONENT_STATUSES
    assert isinstance(c["position"], int) and isinstance(c["group"], bool)
    _when(c["created_at"]), _when(c["updated_at"])


def _check_incident(i: dict[str, Any], page_id: str) -> None:
    assert set(i) - {"scheduled_for", "scheduled_until"} == INCIDENT
    assert i["page_id"] == page_id and isinstance(i["id"], str)
    assert i["impact"] in {"none", "minor", "major", "critical", "maintenance"}
    for update in i["incident_updates"]:
        assert set(update) == UPDATE and update["incident_id"] == i["id"]
    for c in i["components"]:
        _check_component(c, page_id)


def test_every_document_has_statuspage_v2_shape(page: Page) -> None:
    record(page.store, page.config, page.clock, api_health_int="ok", pg_main="ok")
    with page.store.session() as session:
        opened = incidents.open_incident(
            session, title="x", severity="P1", actor="t", clock=page.clock,
            component="database", message="Investigating slow logins.", public=True,
        )  # fmt: skip
        maintenance.schedule(
            session=session, status=page.config.status, title="Email upgrade",
            components=["Email"], start=page.clock.now() + dt.timedelta(hours=1),
            end=page.clock.now() + dt.timedelta(hours=2), actor="t", clock=page.clock,
        )  # fmt: skip
    summary = page.get("summary.json")
    assert list(summary) == ["page", "components", "incidents", "scheduled_maintenances", "status"]
    assert set(summary["page"]) == PAGE
    assert summary["page"]["name"] == "Example Status"
    assert summary["page"]["time_zone"] == "Europe/Berlin"
    assert _when(summary["page"]["updated_at"]).utcoffset() == dt.timedelta(hours=1)
    page_id = summary["page"]["id"]
    for c in summary["components"]:
        _check_component(c, page_id)
    names = [(c["name"], c["group"]) for c in summary["components"]]
    assert names == [("Web app", False), ("Backend", True), ("Database", False), ("Email", False)]
    group = summary["components"][1]
    assert group["components"] == [summary["components"][2]["id"], summary["components"][3]["id"]]
    assert summary["components"][2]["group_id"] == group["id"]
    [incident] = summary["incidents"]
    _check_incident(incident, page_id)
    assert (incident["status"], incident["impact"]) == ("investigating", "major")
    assert [c["name"] for c in incident["components"]] == ["Database"]
    assert incident["incident_updates"][0]["body"] == "Investigating slow logins."
    assert incident["shortlink"] == f"https://status.example.com/status/incidents/i{opened.id}"
    [planned] = summary["scheduled_maintenances"]
    _check_incident(planned, page_id)
    assert (planned["status"], planned["name"]) == ("scheduled", "Email upgrade")
    _when(planned["scheduled_for"]), _when(planned["scheduled_until"])
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
    for path in DOCUMENTS:
        document = page.get(path)
        assert document["page"] == summary["page"]


def test_components_show_the_worst_confirmed_state_of_their_checks(page: Page) -> None:
    def statuses() -> dict[str, str]:
        return {c["name"]: c["status"] for c in page.get("components.json")["components"]}

    record(page.store, page.config, page.clock, api_health_int="ok", api_version_int="ok")
    assert statuses()["Web app"] == "operational"
    assert page.get("status.json")["status"] == {
        "indicator": "none",
        "description": "All Systems Operational",
    }
    later(page.clock)
    record(page.store, page.config, page.clock, api_health_int="down")
    assert statuses()["Web app"] == "partial_outage"
    later(page.clock)
    record(page.store, page.config, page.clock, api_version_int="down")
    assert statuses()["Web app"] == "major_outage"
    assert page.get("status.json")["status"]["indicator"] == "major"
    later(page.clock)
    record(page.store, page.config, page.clock, api_health_int="degraded", api_version_int="ok")
    assert statuses()["Web app"] == "degraded_performance"
    later(page.clock)
    # Unevaluated: says nothing of the service, so the other check decides.
    record(page.store, page.config, page.clock, api_health_int="error", api_version_int="down")
    assert statuses()["Web app"] == "major_outage"
    assert statuses()["Email"] == "operational"  # never ran


def test_incidents_appear_only_once_they_have_a_public_update(page: Page) -> None:
    with page.store.session() as session:
        quiet = incidents.open_incident(
            session, title="db slow", severity="P2", actor="t", clock=page.clock
        )
    assert page.get("incidents.json")["incidents"] == []
    later(page.clock)
    with page.store.session() as session:
        incidents.update(
            session, incident_id=quiet.id, actor="t", clock=page.clock,
            status="identified", message="We found the cause.", public=True,
        )  # fmt: skip
    later(page.clock)
    with page.store.session() as session:
        incidents.update(
            session, incident_id=quiet.id, actor="t", clock=page.clock,
            status="monitoring", message="A fix is deployed.", public=True,
        )  # fmt: skip
    [shown] = page.get("incidents/unresolved.json")["incidents"]
    assert shown["status"] == "monitoring" and shown["impact"] == "minor"
    bodies = [(u["status"], u["body"]) for u in shown["incident_updates"]]
    assert bodies == [("monitoring", "A fix is deployed."), ("identified", "We found the cause.")]
    assert shown["monitoring_at"] is not None and shown["resolved_at"] is None
    later(page.clock, 20 * 60)
    with page.store.session() as session:
        incidents.resolve(
            session, incident_id=quiet.id, actor="t", clock=page.clock,
            policy=page.config.incidents, message="All good.",
        )  # fmt: skip
    assert page.get("incidents/unresolved.json")["incidents"] == []
    [done] = page.get("incidents.json")["incidents"]
    assert done["status"] == "resolved" and done["resolved_at"] is not None
    assert done["incident_updates"][0]["body"] == "All good."


def test_the_view_is_built_once_per_change(page: Page) -> None:
    record(page.store, page.config, page.clock, api_health_int="ok", api_version_int="ok")
    for _ in range(5):
        page.get("summary.json")
        page.get("status.json")
    assert page.cache.builds == 1
    later(page.clock)
    record(page.store, page.config, page.clock, api_health_int="ok")  # nothing changed
    page.get("summary.json")
    assert page.cache.builds == 1
    record(page.store, page.config, page.clock, api_health_int="down")
    assert page.get("status.json")["status"]["indicator"] == "minor"
    assert page.cache.builds == 2


def test_a_maintenance_window_edge_rebuilds_the_view(page: Page) -> None:
    start = page.clock.now() + dt.timedelta(minutes=10)
    with page.store.session() as session:
        maintenance.schedule(
            session=session, status=page.config.status, title="DB upgrade",
            components=["database"], start=start, end=start + dt.timedelta(hours=1),
            actor="t", clock=page.clock,
        )  # fmt: skip
    assert [
        m["status"]
        for m in page.get("scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    ] == ["scheduled"]
    assert page.get("scheduled-maintenances/active.json")["scheduled_maintenances"] == []
    page.clock.advance(dt.timedelta(minutes=11))
    [active] = page.get("scheduled-maintenances/active.json")["scheduled_maintenances"]
    assert active["status"] == "in_progress"
    summary = page.get("summary.json")
    assert {c["name"]: c["status"] for c in summary["components"]}[
        "Database"
    ] == "under_maintenance"
    assert summary["status"] == {
        "indicator": "maintenance",
        "description": "Service Under Maintenance",
    }
    page.clock.advance(dt.timedelta(hours=1))
    assert page.get("scheduled-maintenances/active.json")["scheduled_maintenances"] == []
    [ended] = page.get("scheduled-maintenances.json")["scheduled_maintenances"]
    assert ended["status"] == "completed"


def test_no_login_and_unknown_documents_are_404(page: Page) -> None:
    assert page.client.get("/api/v2/summary.json").status_code == 200
    assert page.client.get("/api/v2/secrets.json").status_code == 404
    assert page.client.post("/api/v2/summary.json").status_code == 405
