"""Routing: what a firing alert did (as data), and the runbook suggestion ranked only once
the alert transaction has committed."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import textwrap
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import Config, load_config
from opsbook.context import AppContext
from opsbook.incidents import service as incidents
from opsbook.incidents.clocks import next_due
from opsbook.incidents.models import Incident, IncidentEvent
from opsbook.store import Store, open_store
from opsbook.watch import alertmanager, alerts, rules, service
from opsbook.watch.models import Alert, Sample
from opsbook.watch.result import CheckResult, State
from tests.conftest import wait_for


def _check(
    name: str,
    severity: str,
    clock: FrozenClock,
    *,
    state: State = "down",
    component: str | None = None,
    runbook: str | None = None,
) -> alerts.Signal:
    result = CheckResult(
        name,
        "http",
        state,
        f"GET /{name}: refused",
        clock.now(),
        component=component,
        severity=severity,
        runbook=runbook,
    )
    return rules.signal_from_check(result, failing=True)


def test_route_says_what_it_did(store: Store, clock: FrozenClock) -> None:
    config = Config.model_validate({"alerts": {"grouping": {"window": "10m", "max_incidents": 2}}})
    signals = [
        _check("api-1", "P2", clock, component="app"),
        _check("web", "P1", clock, component="app", runbook="p0-outage"),
        _check("api-2", "P2", clock, runbook="p0-outage"),
        _check("api-3", "P2", clock),
        _check("health", "P0", clock),
        _check("disk", "P1", clock, state="degraded"),
    ]
    with store.session() as session:
        routed = alerts.apply_many(session, signals, config=config, clock=clock).routed
    assert [(r.rule, r.action, r.incident_id, r.severity, r.raised_from) for r in routed] == [
        ("check:api-1", "opened", 1, "P2", None),
        ("check:web", "attached", 1, "P1", "P2"),  # joins its component's incident, raises it
        ("check:api-2", "opened", 2, "P2", None),
        ("check:api-3", "grouped", 2, "P2", None),  # two opened by alerts: a storm
        ("check:health", "grouped", 2, "P0", "P2"),  # the storm holds a P0: raised
        ("check:disk", "none", None, None, None),  # degraded: warns, opens nothing
    ]
    # Only an incident opened without a named runbook waits for a ranked one.
    assert [r.rule for r in routed if r.suggest is not None] == ["check:api-1"]
    assert routed[0].suggest is not None and routed[0].suggest.component == "app"


# --- the suggestion, outside the alert transaction ---------------------------------------------

PROBE = """\
name: probe
title: Health check failing, GET api health refused
symptoms: [health check failing]
components: [app]
severity: [P0]
steps:
  - {id: look, title: Look, manual: look at the health endpoint}
"""


def _config(tmp_path: Path) -> Config:
    (tmp_path / "opsbook.yaml").write_text("runbooks:\n  paths: [runbooks]\n")
    return load_config(tmp_path / "opsbook.yaml")


def _failing(clock: FrozenClock) -> CheckResult:
    return CheckResult(
        "health",
        "http",
        "down",
        "GET /api/health: refused",
        clock.now(),
        component="app",
        severity="P0",
    )


def _open_writer(fifo: Path) -> int:
    """Open the FIFO for writing, which succeeds only once a reader holds it open: from then
    on the suggester is inside its read of the runbook, and stays there until we write."""
    opened: list[int] = []

    def reader_waiting() -> bool:
        try:
            opened.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # ENXIO: nobody reads it yet
            return False
        return True

    wait_for(reader_waiting)
    return opened[0]


def _store_now(store: Store) -> tuple[int, int, int]:
    """From a connection of our own: (incidents, firing alerts) as committed, and how many
    transactions other connections hold open on the store."""
    count = (
        "select (select count(*) from incidents),"
        " (select count(*) from alerts where state = 'firing')"
    )
    if store.dialect == "sqlite":
        path = store.engine.url.database
        assert path is not None
        db = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            # Every store transaction begins IMMEDIATE, taking SQLite's write lock: if any is
            # open, this fails at once ("database is locked") instead of waiting.
            try:
                db.execute("BEGIN IMMEDIATE")
                held = 0
            except sqlite3.OperationalError:
                held = 1
            found, firing = db.execute(count).fetchone()
            if not held:
                db.execute("ROLLBACK")
        finally:
            db.close()
        return found, firing, held
    with store.engine.connect() as connection:
        found, firing = connection.execute(text(count)).one()
        held = connection.execute(
            text(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and backend_type = 'client backend' and pid <> pg_backend_pid()"
                " and xact_start is not null"
            )
        ).scalar_one()
        connection.rollback()
    return int(found), int(firing), int(held)


def test_the_runbook_is_ranked_after_the_alert_transaction_commits(
    store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    """A runbook that is a FIFO holds the suggester inside its read for as long as we like:
    while it waits there, the alert and its incident are already committed and no
    transaction is open on the store (on SQLite: its write lock is free)."""
    books = tmp_path / "runbooks"
    books.mkdir()
    os.mkfifo(books / "probe.yaml")
    config = _config(tmp_path)
    failed: list[BaseException] = []

    def alert_path() -> None:
        try:
            service.process_results(store, config, [_failing(clock)], clock=clock)
        except BaseException as exc:
            failed.append(exc)

    worker = threading.Thread(target=alert_path, daemon=True)
    worker.start()
    writer = _open_writer(books / "probe.yaml")
    try:
        while_ranking = _store_now(store)
    finally:
        os.write(writer, textwrap.dedent(PROBE).encode())
        os.close(writer)
    worker.join(timeout=60)
    assert not worker.is_alive() and not failed, failed
    assert while_ranking == (1, 1, 0)
    with store.session() as session:
        [incident] = incidents.list_incidents(session)
        events = incidents.timeline(session, incident_id=incident.id)
    assert [e.kind for e in events] == ["opened", "alert", "runbook.suggested"]
    # Ranked from what the FIFO gave after the commit: the probe runbook wins.
    assert events[2].data == {"runbook": "probe"}
    assert events[2].text.startswith("suggested runbook: opsbook runbook run probe --incident")


def test_a_named_runbook_is_written_with_the_alert(store: Store, clock: FrozenClock) -> None:
    """A runbook the check names needs no ranking: it lands in the alert's own transaction."""
    result = _failing(clock)
    result.runbook = "p0-outage"
    signal = rules.signal_from_check(result, failing=True)
    with store.session() as session:
        moved = alerts.apply_many(session, [signal], config=Config.model_validate({}), clock=clock)
        [incident] = incidents.list_incidents(session)
        events = incidents.timeline(session, incident_id=incident.id)
    assert [r.suggest for r in moved.routed] == [None]
    assert [e.kind for e in events] == ["opened", "alert", "runbook.suggested"]


# --- a joining alert raises its incident (issue #12, item 1) ------------------------------------


def _route(store: Store, config: Config, clock: FrozenClock, *signals: alerts.Signal) -> Any:
    with store.session() as session:
        return alerts.apply_many(session, list(signals), config=config, clock=clock).routed


def _incident(store: Store, incident_id: int) -> tuple[Incident, list[IncidentEvent]]:
    with store.session() as session:
        incident = incidents.get(session, incident_id=incident_id)
        return incident, incidents.timeline(session, incident_id=incident_id)


def test_a_p0_check_joining_an_open_p2_raises_it_and_starts_the_ack_clock(
    store: Store, clock: FrozenClock
) -> None:
    config = Config.model_validate({})
    with store.session() as session:
        opened = incidents.open_incident(
            session,
            title="slow checkout",
            severity="P2",
            actor="alice",
            clock=clock,
            component="checkout",
        ).id
    clock.advance(dt.timedelta(minutes=20))
    [routed] = _route(
        store, config, clock, _check("checkout-health", "P0", clock, component="checkout")
    )
    assert (routed.action, routed.incident_id, routed.severity, routed.raised_from) == (
        "attached",
        opened,
        "P0",
        "P2",
    )
    incident, events = _incident(store, opened)
    assert incident.severity == "P0"
    assert [e.kind for e in events][-2:] == ["alert", "severity"]
    assert events[-1].text == (
        "severity raised P2 -> P0: attached alert check:checkout-health is P0"
    )
    # A P2 has no acknowledge clock; the P0 it became has one, running from the raise.
    [ack] = [
        c
        for c in incidents.clocks_for(incident, events, config=config, now=clock.now())
        if c.name == "ack"
    ]
    assert (ack.due_at, ack.state) == (clock.now() + dt.timedelta(minutes=5), "due")


def test_alertmanager_critical_joining_a_warning_raises_the_incident(
    store: Store, clock: FrozenClock
) -> None:
    """amtool alert add SlowQueries service=checkout severity=warning, then CheckoutDown
    service=checkout severity=critical: two groups, one component, one incident at P1."""
    config = Config.model_validate({})
    alertmanager.receive(
        store, config, _am("SlowQueries", "warning", service="checkout"), clock=clock
    )
    clock.advance(dt.timedelta(minutes=1))
    alertmanager.receive(
        store, config, _am("CheckoutDown", "critical", service="checkout"), clock=clock
    )
    with store.session() as session:
        [incident] = incidents.list_incidents(session)
    incident, events = _incident(store, incident.id)
    assert (incident.severity, incident.component) == ("P1", "checkout")
    assert events[-1].text == (
        "severity raised P2 -> P1: attached alert alertmanager:CheckoutDown is P1"
    )


def test_a_less_urgent_or_degraded_alert_never_lowers_or_raises(
    store: Store, clock: FrozenClock
) -> None:
    config = Config.model_validate({})
    _route(store, config, clock, _check("api", "P1", clock, component="app"))
    routed = _route(
        store,
        config,
        clock,
        _check("slow", "P3", clock, component="app"),
        _check("disk", "P0", clock, component="app", state="degraded"),
    )
    assert [(r.action, r.severity, r.raised_from) for r in routed] == [
        ("attached", "P1", None),
        ("attached", "P1", None),
    ]


def _errors_rule(**rule: Any) -> Config:
    """One rule on the error rate of component app, the last sample against 5%."""
    base = {"name": "errors", "metric": "error_rate", "aggregation": "last", "crit": 0.05}
    return Config.model_validate({"alerts": {"rules": [base | {"component": "app"} | rule]}})


def _evaluate(store: Store, config: Config, clock: FrozenClock, value: float) -> None:
    with store.session() as session:
        session.add(Sample(name="error_rate", source="test", at=clock.now(), value=value))
    service.evaluate_rules(store, config, clock=clock)


def test_a_rule_turning_critical_raises_its_incident(store: Store, clock: FrozenClock) -> None:
    config = _errors_rule(warn=0.01, severity={"warn": "P2", "crit": "P0"})
    for value in (0.02, 0.08):
        _evaluate(store, config, clock, value)
        clock.advance(dt.timedelta(seconds=30))
    with store.session() as session:
        [incident] = incidents.list_incidents(session)
    incident, events = _incident(store, incident.id)
    assert incident.severity == "P0"
    assert events[-2].text.startswith("alert errors is now critical:")
    assert events[-1].text == "severity raised P2 -> P0: alert errors is now critical (P0)"


def test_a_degraded_check_going_down_opens_its_incident(store: Store, clock: FrozenClock) -> None:
    """Degraded fires a warning that opens nothing; down is an outage: it must open one."""
    config = Config.model_validate({})
    [warned] = _route(store, config, clock, _check("db", "P1", clock, state="degraded"))
    assert warned.action == "none"
    [down] = _route(store, config, clock, _check("db", "P1", clock))
    assert (down.action, down.severity) == ("opened", "P1")


# --- one Alertmanager group, one incident (item 2) ----------------------------------------------

GROUP = '{}/{team="grp"}:{alertname="GrpAlert"}'


def _am_item(name: str, severity: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, **labels},
        "annotations": {"summary": f"{name} on {labels}"},
        "startsAt": "2026-03-02T09:00:00Z",
    }


def _am(
    name: str,
    severity: str,
    *,
    group_key: str | None = None,
    group_labels: dict[str, str] | None = None,
    status: str = "firing",
    items: list[dict[str, Any]] | None = None,
    **labels: str,
) -> alertmanager.AmPayload:
    alerts_ = items or [_am_item(name, severity, status, **labels)]
    common = {
        k: v
        for k, v in alerts_[0]["labels"].items()
        if all(a["labels"].get(k) == v for a in alerts_)
    }
    return alertmanager.AmPayload.model_validate(
        {
            "version": "4",
            "groupKey": group_key or f'{{}}:{{alertname="{name}"}}',
            "status": status,
            "groupLabels": {"alertname": name} if group_labels is None else group_labels,
            "commonLabels": common,
            "alerts": alerts_,
        }
    )


def test_one_alertmanager_group_is_one_incident_as_its_common_labels_shrink(
    store: Store, clock: FrozenClock
) -> None:
    config = Config.model_validate({})
    a = _am_item("GrpAlert", "critical", team="grp", service="a")
    b = _am_item("GrpAlert", "critical", team="grp", service="b")
    alertmanager.receive(
        store, config, _am("GrpAlert", "critical", group_key=GROUP, items=[a]), clock=clock
    )
    clock.advance(dt.timedelta(seconds=30))
    # The group's next notification: commonLabels lose `service`, the group stays the same.
    second = _am("GrpAlert", "critical", group_key=GROUP, items=[a, b])
    assert "service" not in second.commonLabels
    alertmanager.receive(store, config, second, clock=clock)
    with store.session() as session:
        [incident] = incidents.list_incidents(session)
        firing = session.scalars(select(Alert).where(Alert.state == "firing")).all()
        assert {f.incident_id for f in firing} == {incident.id} and len(firing) == 2
        shown = [incident.title, incident.component or ""] + [
            e.text for e in incidents.timeline(session, incident_id=incident.id)
        ]
    assert incident.component == "a"  # a name people use: the first alert's service
    assert not any("alertmanager:{" in text or "{}" in text for text in shown), shown


def test_a_group_without_a_service_label_reads_by_its_group_labels(
    store: Store, clock: FrozenClock
) -> None:
    config = Config.model_validate({})
    alertmanager.receive(store, config, _am("DiskFull", "warning", instance="db-1"), clock=clock)
    with store.session() as session:
        [incident] = incidents.list_incidents(session)
    assert incident.component == "alertname=DiskFull"
    assert alertmanager.component_of({}, {}) is None  # group_by: [] has no labels to show


def test_a_group_whose_incident_was_resolved_opens_a_new_one(
    store: Store, clock: FrozenClock
) -> None:
    config = Config.model_validate({})
    first = _am("GrpAlert", "critical", group_key=GROUP, service="a")
    alertmanager.receive(store, config, first, clock=clock)
    resolved = _am("GrpAlert", "critical", group_key=GROUP, status="resolved", service="a")
    alertmanager.receive(store, config, resolved, clock=clock)
    _resolve(store, clock, 1)
    alertmanager.receive(
        store, config, _am("GrpAlert", "critical", group_key=GROUP, service="b"), clock=clock
    )
    with store.session() as session:
        assert [(i.id, i.status) for i in incidents.list_incidents(session)] == [
            (2, "open"),
            (1, "resolved"),
        ]


HOSTILE = "; rm -rf / $(touch /tmp/x) '\"[/x][bold]\x1b[31m\u202e\x00" + "9" * 400


def test_hostile_group_keys_and_labels_are_data(tmp_path: Path, clock: FrozenClock) -> None:
    """A group key, group labels and a service as an attacker would write them: stored
    (cut to fit), routed by, never shown raw; `status` prints them escaped, JSON stays JSON."""
    path = tmp_path / "opsbook.yaml"
    path.write_text(f"store: {{url: 'sqlite:///{tmp_path / 'opsbook.db'}'}}\n")
    config = load_config(path)
    store = open_store(config.store.url.reveal())
    try:
        for key in (HOSTILE, HOSTILE + "x"):  # two long keys that differ only at the end
            payload = _am(
                "Evil",
                "critical",
                group_key=key,
                group_labels={"alertname": key},
                items=[_am_item("Evil", "critical", instance=key[-3:])],
            )
            alertmanager.receive(store, config, payload, clock=clock)
        with store.session() as session:
            groups = session.scalars(select(Alert.group_key)).all()
            opened = incidents.list_incidents(session)
    finally:
        store.close()
    assert len(set(groups)) == 2 and all(g is not None and len(g) <= 200 for g in groups)
    assert len(opened) == 2  # two groups, two incidents
    assert opened[0].component is not None and len(opened[0].component) <= 200
    runner = CliRunner()
    shown = runner.invoke(
        app, ["--config", str(path), "incident", "show", "1"], obj=AppContext(clock=clock)
    )
    assert shown.exit_code == 0, shown.output
    assert "component alertname=; rm -rf / $(touch /tmp/x) '\"[/x][bold]\\x1b" in shown.output
    assert "\x1b" not in shown.output and "\x00" not in shown.output
    for command in (["status", "--json"], ["incident", "show", "2", "--json"]):
        as_json = runner.invoke(app, ["--config", str(path), *command], obj=AppContext(clock=clock))
        assert as_json.exit_code == 0, as_json.output
        assert json.loads(as_json.stdout)


# --- a person resolves while the alert still fires (item 6) -------------------------------------


def _resolve(store: Store, clock: FrozenClock, incident_id: int) -> None:
    with store.session() as session:
        incidents.resolve(
            session,
            incident_id=incident_id,
            actor="alice",
            clock=clock,
            policy=Config.model_validate({}).incidents,
            force=True,
        )


def test_resolving_while_the_check_fails_detaches_and_opens_a_linked_incident(
    store: Store, clock: FrozenClock
) -> None:
    config = Config.model_validate(
        {"checks": [{"name": "api", "kind": "http", "url": "http://x/"}]}
    )
    down = CheckResult("api", "http", "down", "GET /: refused", clock.now(), severity="P1")
    service.process_results(store, config, [down], clock=clock)
    _resolve(store, clock, 1)
    clock.advance(service.REFRESH)
    down.at = clock.now()
    service.process_results(store, config, [down], clock=clock)
    with store.session() as session:
        old, new = session.scalars(select(Alert).order_by(Alert.id)).all()
        assert (old.state, old.detached, old.incident_id) == ("resolved", True, 1)
        assert (new.state, new.detached, new.incident_id) == ("firing", False, 2)
        assert [(i.id, i.status) for i in incidents.list_incidents(session)] == [
            (2, "open"),
            (1, "resolved"),
        ]
    _, resolved = _incident(store, 1)
    _, opened = _incident(store, 2)
    assert resolved[-2].text == (
        "alert check:api still fired when this incident was resolved: detached from it"
        " (if it keeps firing, it opens a new incident)"
    )
    assert resolved[-1].text == "alert check:api still fires: it opened incident #2"
    assert resolved[-1].data["followed_by"] == 2
    assert opened[1].text.endswith("(still firing after incident #1 was resolved)")
    assert opened[1].data["follows"] == 1


def test_after_a_resolve_a_rule_waits_for_its_for_again(store: Store, clock: FrozenClock) -> None:
    config = _errors_rule(**{"for": "2m"})

    def evaluate(value: float) -> None:
        _evaluate(store, config, clock, value)

    evaluate(0.08)
    clock.advance(dt.timedelta(minutes=2))
    evaluate(0.08)  # firing: incident #1
    _resolve(store, clock, 1)
    clock.advance(dt.timedelta(seconds=30))
    evaluate(0.08)  # detached; its successor is pending
    with store.session() as session:
        assert [i.id for i in incidents.list_incidents(session, open_only=True)] == []
        states = session.scalars(select(Alert.state).order_by(Alert.id)).all()
    assert states == ["resolved", "pending"]
    clock.advance(dt.timedelta(minutes=2))
    evaluate(0.08)
    with store.session() as session:
        [opened] = incidents.list_incidents(session, open_only=True)
    assert opened.id == 2


def test_serve_detaches_an_alertmanager_alert_without_waiting_for_its_next_notification(
    store: Store, clock: FrozenClock
) -> None:
    config = Config.model_validate({})
    alertmanager.receive(
        store, config, _am("CheckoutDown", "critical", service="checkout"), clock=clock
    )
    assert service.detach_resolved(store, clock=clock) == 0  # its incident is open
    _resolve(store, clock, 1)
    assert service.detach_resolved(store, clock=clock) == 1
    assert service.open_alerts(store) == []  # no longer "firing -> incident #1"
    # Alertmanager repeats the notification: the alert fires again, in a linked incident.
    alertmanager.receive(
        store, config, _am("CheckoutDown", "critical", service="checkout"), clock=clock
    )
    [alert] = service.open_alerts(store)
    assert alert.incident_id == 2
    _, opened = _incident(store, 2)
    assert opened[1].data["follows"] == 1


# --- a relapse while monitoring (issue #17, item 1) ---------------------------------------------


def _health(clock: FrozenClock, state: State) -> CheckResult:
    summary = f"GET /api/health: {state}"
    return CheckResult(
        "health", "http", state, summary, clock.now(), component="app", severity="P0"
    )


def _monitoring_after_a_fix(store: Store, config: Config, clock: FrozenClock) -> None:
    """health fails (incident #1), is acknowledged, fixed, passes, and is put in monitoring."""
    _monitoring_after_a_fix_of(store, config, clock, _health(clock, "down"))


def _monitoring_after_a_fix_of(
    store: Store, config: Config, clock: FrozenClock, down: CheckResult
) -> None:
    service.process_results(store, config, [down], clock=clock)
    with store.session() as session:
        incidents.acknowledge(session, incident_id=1, actor="alice", clock=clock)
        incidents.update(
            session, incident_id=1, actor="alice", clock=clock, status="monitoring", message="fix"
        )
    clock.advance(dt.timedelta(minutes=1))
    ok = replace(down, state="ok", summary="ok", at=clock.now())
    service.process_results(store, config, [ok], clock=clock)


def test_an_alert_firing_while_monitoring_sends_the_incident_back_to_investigating(
    store: Store, clock: FrozenClock
) -> None:
    config = Config.model_validate(
        {"checks": [{"name": "health", "kind": "http", "url": "http://x/"}]}
    )
    _monitoring_after_a_fix(store, config, clock)
    clock.advance(dt.timedelta(minutes=9))
    service.process_results(store, config, [_health(clock, "down")], clock=clock)
    incident, events = _incident(store, 1)
    assert incident.status == "investigating"
    [relapse] = [e for e in events if e.data.get("relapse")]
    assert relapse.kind == "status"
    assert relapse.text == "relapse: check:health firing again while monitoring"
    assert (relapse.data["from"], relapse.data["to"]) == ("monitoring", "investigating")
    # The next step follows the new state: someone acknowledges the relapse within 5 min.
    clocks = incidents.clocks_for(incident, events, config=config, now=clock.now())
    step = next_due(clocks)
    assert step is not None and step.name == "ack"
    assert step.due_at == clock.now() + dt.timedelta(minutes=5)
    with store.session() as session:
        incidents.acknowledge(session, incident_id=1, actor="bob", clock=clock)
        # Back in monitoring: the resolve guard counts from this entry, not the first.
        clock.advance(dt.timedelta(minutes=2))
        incidents.update(
            session, incident_id=1, actor="bob", clock=clock, status="monitoring", message="again"
        )
    clock.advance(dt.timedelta(minutes=10))
    with store.session() as session:
        try:
            incidents.resolve(
                session, incident_id=1, actor="bob", clock=clock, policy=config.incidents
            )
        except incidents.IllegalMove as refused:
            assert "monitoring for 10 min of the 15 min" in str(refused)
        else:
            raise AssertionError("resolved before 15 minutes of monitoring")


def test_a_relapse_is_taken_once_when_two_processes_see_the_same_firing(
    store: Store, store_url: str, clock: FrozenClock
) -> None:
    """Two routers (two serve processes) route a firing onto one monitoring incident: the
    row lock lets the first move it; the second finds it investigating and only attaches."""
    config = Config.model_validate(
        {"checks": [{"name": "health", "kind": "http", "url": "http://x/"}]}
    )
    _monitoring_after_a_fix(store, config, clock)
    clock.advance(dt.timedelta(minutes=3))
    signal = rules.signal_from_check(_health(clock, "down"), failing=True)
    stores = [open_store(store_url) for _ in range(2)]
    errors: list[BaseException] = []

    def serve(one: Store) -> None:
        try:
            with one.session() as session:
                alerts.apply_many(session, [signal], config=config, clock=clock)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=serve, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for one in stores:
        one.close()
    assert errors == []
    _, events = _incident(store, 1)
    assert sum(bool(e.data.get("relapse")) for e in events) == 1


def test_the_timeline_says_alert_once_and_shows_a_hostile_relapse_as_text(
    tmp_path: Path, clock: FrozenClock
) -> None:
    """`incident show` lines: "alert: check:... firing", not "alert: alert check:...";
    a check named like markup and an escape sequence is printed as typed, never obeyed."""
    name = "h[/x][bold]\x1b[31m$(rm -rf)"
    path = tmp_path / "opsbook.yaml"
    path.write_text(f"store: {{url: 'sqlite:///{tmp_path / 'opsbook.db'}'}}\n")
    config = Config.model_validate({"checks": [{"name": name, "kind": "http", "url": "http://x/"}]})
    store = open_store(f"sqlite:///{tmp_path / 'opsbook.db'}")
    try:
        down = CheckResult(name, "http", "down", "refused", clock.now(), component="app")
        _monitoring_after_a_fix_of(store, config, clock, down)
        clock.advance(dt.timedelta(minutes=2))
        service.process_results(store, config, [replace(down, at=clock.now())], clock=clock)
    finally:
        store.close()
    shown = CliRunner().invoke(
        app, ["--config", str(path), "incident", "show", "1"], obj=AppContext(clock=clock)
    )
    assert shown.exit_code == 0, shown.output
    lines = [" ".join(line.split()) for line in shown.output.splitlines()]
    visible = "check:h[/x][bold]\\x1b[31m$(rm -rf)"
    assert any(f"alert: {visible} firing (crit): refused" in line for line in lines), lines
    assert not any("alert: alert" in line for line in lines)
    assert any(
        f"monitoring -> investigating: relapse: {visible} firing again while monitoring" in line
        for line in lines
    ), lines
    assert "\x1b" not in shown.output
