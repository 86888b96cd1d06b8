"""`opsbook demo --scenario outage`: watch the sandbox, break its health, and show the
alert fire, the P0 open, the page arrive, the status page turn red, and all of it undone."""

from __future__ import annotations

import time

from opsbook.clock import SYSTEM_CLOCK
from opsbook.console import console, literal, safe
from opsbook.demo.drills import ACTOR, switch_off
from opsbook.demo.stage import Stage
from opsbook.demo.watching import Watching, start_watching, wait_until
from opsbook.demo_page import OPERATIONAL, investigating_message, wait_for_line
from opsbook.incidents import service as incidents
from opsbook.sandbox.client import faults_call
from opsbook.watch import service as watch


def play(stage: Stage) -> Watching:
    watching = start_watching(stage)
    store = watching.store
    console.print("\nin 5 seconds the sandbox's health check starts failing (fault health-500)")
    time.sleep(5)  # pacing for the viewer
    faults_call(stage.app_url, stage.settings.admin_token, "PUT", "health-500", True)
    broke = time.monotonic()
    wait_until(lambda: any(a.incident_id for a in watch.open_alerts(store)), 60)
    with store.session() as session:
        [incident] = incidents.list_incidents(session, open_only=True)
    alert = next(a for a in watch.open_alerts(store) if a.incident_id)
    console.print(
        literal(
            f"alert {alert.rule} firing {time.monotonic() - broke:.1f}s after the fault: "
            f"{alert.summary}"
        )
    )
    console.print(literal(f"incident #{incident.id} {incident.severity} opened: {incident.title}"))
    _first_questions(watching, incident.id)
    # The runbook's step "Update status page", in the seed's words: customers see it.
    message = investigating_message(watching.config)
    with store.session() as session:
        incidents.update(
            session, incident_id=incident.id, actor=ACTOR, clock=SYSTEM_CLOCK,
            status="investigating", message=message, public=True,
        )  # fmt: skip
    console.print(literal(wait_for_line(watching.url, showing=message)), style="bold red")
    _page_and_resolve(stage, watching, incident.id)
    console.print(literal(wait_for_line(watching.url, showing=OPERATIONAL)), style="bold green")
    return watching


def _first_questions(watching: Watching, incident_id: int) -> None:
    """The suggested runbook, then the runbook's first question: is it us or a provider?"""
    with watching.store.session() as session:
        events = incidents.timeline(session, incident_id=incident_id)
    for event in events:
        if event.kind == "runbook.suggested":
            console.print(literal(f"  {event.text}"))
    providers = [s for s in watch.check_states(watching.store) if s.kind == "statuspage"]
    if providers and all(s.state == "ok" for s in providers):
        names = safe(", ".join(s.name for s in providers))
        console.print(f"  providers' status pages all operational ({names}): the outage is ours")
    for state in providers:
        if state.state != "ok":
            console.print(literal(f"  {state.name}: {state.summary}"))


def _page_and_resolve(stage: Stage, watching: Watching, incident_id: int) -> None:
    """The page arrives; the fault is fixed; the resolve reaches PagerDuty under the same
    dedup_key. (The runbook's 15 minutes of monitoring are skipped with force: a demo.)"""
    store, fakes = watching.store, watching.fakes
    wait_until(lambda: fakes.received("PagerDuty got: trigger"), 30)
    switch_off(store, stage.settings, stage.app_url, incident_id)
    # The fix holds once the health check passes again and its alert resolves; resolving
    # before that would leave the alert firing with no incident, and it would open another.
    wait_until(lambda: not any(a.incident_id == incident_id for a in watch.open_alerts(store)), 60)
    with store.session() as session:
        incidents.resolve(
            session,
            incident_id=incident_id,
            actor=ACTOR,
            clock=SYSTEM_CLOCK,
            policy=watching.config.incidents,
            force=True,
        )
    console.print(f"incident #{incident_id} resolved (fault switched off)")
    wait_until(
        lambda: fakes.received("PagerDuty got: resolve") and fakes.received("Slack got: Resolved"),
        30,
    )
