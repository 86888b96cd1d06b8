"""The tour's two scripted incidents, run through opsbook's own service functions: the
sandbox broken, the incident the runbook prescribes opened, fixed and monitored; then
connections leaked and the seed's P1 runbook ending them. Both are resolved after, so
that what the watcher finds next opens an incident of its own."""

from __future__ import annotations

import asyncio

from opsbook.clock import SYSTEM_CLOCK
from opsbook.config import Config
from opsbook.console import console, safe
from opsbook.demo.probes import print_probes, probe
from opsbook.demo.stage import Stage
from opsbook.incidents import service as incidents
from opsbook.incidents.views import clock_line
from opsbook.registry import default_registry
from opsbook.runbooks import loader as runbook_loader
from opsbook.runbooks.engine import Engine, Interaction
from opsbook.runbooks.reporter import ConsoleReporter
from opsbook.sandbox.client import faults_call
from opsbook.sandbox.settings import SandboxSettings
from opsbook.store import Store, open_store
from opsbook.store.audit import record

ACTOR = "opsbook-demo"


def run_drills(stage: Stage) -> None:
    config, settings, url = stage.config, stage.settings, stage.app_url
    store = open_store(config.store.url.reveal(), base_dir=config.base_dir)
    try:
        with store.session() as session:
            record(
                session,
                action="demo.start",
                target=url,
                outcome="ok",
                details={"config": str(config.source)},
            )
        print_probes(asyncio.run(probe(url, settings)))
        outage = _incident_drill(store, config, settings, url)
        connections = _runbook_drill(store, config, settings, url)
        _resolve(store, config, [outage, connections])
    finally:
        store.close()


def _incident_drill(store: Store, config: Config, settings: SandboxSettings, url: str) -> int:
    """Break the sandbox, open the incident the runbook prescribes, fix it, monitor."""
    clock = SYSTEM_CLOCK
    faults_call(url, settings.admin_token, "PUT", "health-500", True)
    health = asyncio.run(probe(url, settings, only="health"))[0].status
    console.print(f"\nfault health-500 on: GET /api/health answers {health}")
    with store.session() as session:
        incident = incidents.open_incident(
            session,
            title="Complete service outage",
            severity="P0",
            actor=ACTOR,
            clock=clock,
            component="app",
            symptoms=[f"Health check endpoint returning {health}"],
        )
        incident_id = incident.id
        incidents.acknowledge(
            session,
            incident_id=incident_id,
            actor=ACTOR,
            clock=clock,
            message="Site down - investigating",
        )
        incidents.update(
            session,
            incident_id=incident_id,
            actor=ACTOR,
            clock=clock,
            status="identified",
            public=True,
            message="The sandbox's health-500 fault switch is on",
        )
    switch_off(store, settings, url, incident_id)
    with store.session() as session:
        incident = incidents.get(session, incident_id=incident_id)
        events = incidents.timeline(session, incident_id=incident_id)
        clocks = incidents.clocks_for(incident, events, config=config, now=clock.now())
    console.print(f"incident #{incident_id} P0 {safe(incident.title)}: {incident.status}")
    for sla in clocks:
        console.print(f"  {clock_line(sla, clock.now(), config.timezone)}")
    return incident_id


def switch_off(store: Store, settings: SandboxSettings, url: str, incident_id: int) -> None:
    """The fix: the fault switched off, and the incident publicly monitoring."""
    faults_call(url, settings.admin_token, "DELETE", "health-500")
    health = asyncio.run(probe(url, settings, only="health"))[0].status
    with store.session() as session:
        incidents.update(
            session,
            incident_id=incident_id,
            actor=ACTOR,
            clock=SYSTEM_CLOCK,
            status="monitoring",
            public=True,
            message=f"Fault switched off; health answers {health} again",
        )


def _runbook_drill(store: Store, config: Config, settings: SandboxSettings, url: str) -> int:
    """Leak connections, then let the seed's P1 runbook find and end them."""
    clock = SYSTEM_CLOCK
    faults_call(url, settings.admin_token, "PUT", "leak-connections", 30)
    console.print("\nfault leak-connections 30 on: 30 idle connections held open")
    with store.session() as session:
        incident_id = incidents.open_incident(
            session,
            title="Too many connections",
            severity="P1",
            actor=ACTOR,
            clock=clock,
            component="database",
            symptoms=["Queries timing out"],
        ).id
    registry = default_registry()
    source = runbook_loader.find(config, "p1-db-connections")
    runbook = runbook_loader.load_runbook(source.path, registry=registry)
    engine = Engine(
        store=store,
        config=config,
        registry=registry,
        clock=clock,
        actor=ACTOR,
        reporter=ConsoleReporter(len(runbook.steps)),
    )
    console.print(f"incident #{incident_id} P1 Too many connections: running {runbook.name}")
    params = {"leak_threshold": 100, "idle_minutes": 0, "pid": None}
    run_id = engine.start(runbook, source=str(source.path), incident_id=incident_id, params=params)
    outcome = engine.execute(run_id, runbook, Interaction(yes=True), params)
    console.print(f"run {run_id} {outcome}")
    faults_call(url, settings.admin_token, "DELETE", "leak-connections")
    return incident_id


def _resolve(store: Store, config: Config, incident_ids: list[int]) -> None:
    """Close the drills (forced: a demo skips the runbook's 15 minutes of monitoring)."""
    with store.session() as session:
        for incident_id in incident_ids:
            incidents.resolve(
                session,
                incident_id=incident_id,
                actor=ACTOR,
                clock=SYSTEM_CLOCK,
                policy=config.incidents,
                force=True,
            )
    shown = " and ".join(f"#{i}" for i in incident_ids)
    console.print(f"\ndrills done: incidents {shown} resolved (forced: a demo)")
