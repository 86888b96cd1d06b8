"""A status page over real checks, stored results and incidents, for the status tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from sqlalchemy.orm import Session

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.config.loader import parse_config
from opsbook.incidents import service as incidents
from opsbook.status import maintenance
from opsbook.store import Store
from opsbook.watch import service
from opsbook.watch.result import CheckResult, State

SECRET = "s3cr3t-alertmanager-token-9f1c"
INTERNAL_HOST = "pg-primary-7.corp.internal"
PRIVATE_NOTE = "rolled back via ssh root@10.1.2.3, ask Bob"


def config_data(store_url: str) -> dict[str, Any]:
    """Checks with internal names and URLs behind three public components."""
    return {
        "store": {"url": store_url},
        "alertmanager": {"token": SECRET},
        "checks": [
            {"name": "api-health-int", "kind": "http", "url": f"http://{INTERNAL_HOST}/h"},
            {"name": "api-version-int", "kind": "http", "url": f"http://{INTERNAL_HOST}/v"},
            {"name": "pg-main", "kind": "command", "command": "exit 1", "component": "database"},
            {"name": "mail-dns", "kind": "command", "command": "true"},
        ],
        "status": {
            "name": "Example Status",
            "url": "https://status.example.com",
            "time_zone": "Europe/Berlin",
            "components": [
                {
                    "name": "Web app",
                    "description": "The app.",
                    "checks": ["api-health-int", "api-version-int"],
                },
                {"name": "Database", "group": "Backend", "checks": ["pg-main"]},
                {"name": "Email", "group": "Backend", "checks": ["mail-dns"]},
            ],
        },
    }


def status_config(store_url: str) -> Config:
    return parse_config(yaml.safe_dump(config_data(store_url)), file="opsbook.yaml", env={})


def record(store: Store, config: Config, clock: FrozenClock, **states: State) -> None:
    """Store one result per named check (names with `_` for `-`), through the watch service."""
    checks = {c.name: c for c in config.checks}
    results = []
    for key, state in states.items():
        name = key.replace("_", "-")
        check = checks[name]
        results.append(
            CheckResult(
                name=name,
                kind=check.kind,
                state=state,
                summary=f"{name} at http://{INTERNAL_HOST}: {state}",
                at=clock.now(),
                component=check.component,
                severity="P1",
            )
        )
    service.process_results(store, config, results, clock=clock)


def later(clock: FrozenClock, seconds: int = 60) -> None:
    clock.advance(dt.timedelta(seconds=seconds))


def outage(store: Store, config: Config, clock: FrozenClock) -> int:
    """A day of history, then an active P0 on the web app with two public updates (and a
    private note), and a database maintenance an hour away. Returns the incident's id."""
    for _ in range(3):
        record(store, config, clock, api_health_int="ok", api_version_int="ok", pg_main="ok")
        later(clock, 3600)
    record(store, config, clock, api_health_int="down", api_version_int="down")
    with store.session() as session:
        opened = incidents.open_incident(
            session, title=f"{INTERNAL_HOST} down", severity="P0", actor="t", clock=clock,
            component="Web app", message="We are investigating failed logins.", public=True,
        )  # fmt: skip
        incidents.note(session, incident_id=opened.id, actor="t", clock=clock, text=PRIVATE_NOTE)
        later(clock, 120)
        incidents.update(
            session, incident_id=opened.id, actor="t", clock=clock, status="identified",
            message="The cause is found; a fix is on its way.", public=True,
        )  # fmt: skip
        maintenance.schedule(
            session=session, status=config.status, title="Database upgrade",
            components=["Database"], start=clock.now() + dt.timedelta(hours=1),
            end=clock.now() + dt.timedelta(hours=2), actor="t", clock=clock,
        )  # fmt: skip
    later(clock)
    return opened.id


def past_incident(session: Session, config: Config, at: dt.datetime, message: str) -> int:
    """A resolved P2 on the database, opened at `at` with one public update."""
    clock = FrozenClock(at)
    opened = incidents.open_incident(
        session, title="x", severity="P2", actor="t", clock=clock, component="Database",
        message=message, public=True,
    )  # fmt: skip
    incidents.resolve(
        session, incident_id=opened.id, actor="t", clock=clock, policy=config.incidents,
        force=True, message="Fixed.",
    )  # fmt: skip
    return opened.id
