"""Rules, the alert lifecycle and incidents, with an injected clock (no sleeping)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import Config, load_config
from opsbook.context import AppContext
from opsbook.incidents import service as incidents
from opsbook.store import Store, open_store
from opsbook.watch import alerts, rules, service
from opsbook.watch.models import Alert, Sample
from opsbook.watch.result import CheckResult

SEED_RULES = {
    "alerts": {
        "window": "5m",
        "rules": [
            {
                "name": "database-connections",
                "metric": "db_connections_used",
                "aggregation": "max",
                "warn": "70%",
                "crit": "90%",
                "component": "database",
                "runbook": "p1-db-connections",
                "severity": {"warn": "P2", "crit": "P1"},
            },
            {
                "name": "error-rate",
                "metric": "error_rate",
                "warn": "1%",
                "crit": "5%",
                "for": "2m",
                "keep_firing": "5m",
                "component": "app",
                "severity": {"warn": "P2", "crit": "P1"},
            },
        ],
    }
}


def sample(store: Store, clock: FrozenClock, name: str, value: float) -> None:
    with store.session() as session:
        session.add(Sample(name=name, source="test", at=clock.now(), value=value))


def evaluate(store: Store, config: Config, clock: FrozenClock) -> dict[str, Any]:
    with store.session() as session:
        found = {}
        for signal in rules.evaluate_rules(session, config, now=clock.now()):
            alert = alerts.apply(session, signal, config=config, clock=clock)
            found[signal.rule] = (alert.state, alert.level) if alert else None
        return found


@pytest.fixture
def config() -> Config:
    return Config.model_validate(SEED_RULES)


def test_aggregations() -> None:
    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    values = [(t + dt.timedelta(seconds=10 * i), float(v)) for i, v in enumerate(range(1, 21))]
    assert rules.aggregate("avg", values) == 10.5
    assert rules.aggregate("max", values) == 20 and rules.aggregate("min", values) == 1
    assert rules.aggregate("p95", values) == 19 and rules.aggregate("last", values) == 20
    assert rules.aggregate("rate", values) == pytest.approx(19 / 190)
    assert rules.aggregate("avg", []) is None


def test_threshold_fires_at_once_without_for_and_opens_a_p1(
    store: Store, clock: FrozenClock, config: Config
) -> None:
    sample(store, clock, "db_connections_used", 0.95)
    assert evaluate(store, config, clock)["database-connections"] == ("firing", "crit")
    with store.session() as session:
        [incident] = incidents.list_incidents(session)
        events = incidents.timeline(session, incident_id=incident.id)
    assert (incident.severity, incident.component) == ("P1", "database")
    assert incident.title == (
        "db_connections_used max over 5m is 95.00%, past the crit threshold 90.00%"
    )
    assert [e.kind for e in events] == ["opened", "alert", "runbook.suggested"]
    assert events[2].text == (
        f"suggested runbook: opsbook runbook run p1-db-connections --incident {incident.id}"
    )


def test_warn_maps_to_p2(store: Store, clock: FrozenClock, config: Config) -> None:
    sample(store, clock, "db_connections_used", 0.75)
    assert evaluate(store, config, clock)["database-connections"] == ("firing", "warn")
    with store.session() as session:
        assert [i.severity for i in incidents.list_incidents(session)] == ["P2"]


def test_for_keeps_it_pending_then_fires(store: Store, clock: FrozenClock, config: Config) -> None:
    sample(store, clock, "error_rate", 0.08)
    assert evaluate(store, config, clock)["error-rate"] == ("pending", "crit")
    clock.advance(dt.timedelta(seconds=119))
    sample(store, clock, "error_rate", 0.08)
    assert evaluate(store, config, clock)["error-rate"] == ("pending", "crit")
    with store.session() as session:
        assert incidents.list_incidents(session) == []  # pending tells nobody
    clock.advance(dt.timedelta(seconds=1))
    assert evaluate(store, config, clock)["error-rate"] == ("firing", "crit")


def test_a_pending_alert_that_clears_never_fires(
    store: Store, clock: FrozenClock, config: Config
) -> None:
    sample(store, clock, "error_rate", 0.08)
    evaluate(store, config, clock)
    clock.advance(dt.timedelta(minutes=6))  # the sample leaves the window
    assert evaluate(store, config, clock)["error-rate"] == ("resolved", "crit")
    with store.session() as session:
        assert incidents.list_incidents(session) == []


def test_keep_firing_then_resolve_noted_on_the_incident(
    store: Store, clock: FrozenClock, config: Config
) -> None:
    states = []
    for minute in range(12):  # evaluated every minute; high samples during minutes 0-2
        if minute <= 2:
            sample(store, clock, "error_rate", 0.08)
        states.append(evaluate(store, config, clock)["error-rate"][0])
        clock.advance(dt.timedelta(minutes=1))
    # pending until `for` (2m) holds; true while the samples stay in the 5m window (to
    # minute 6); then it keeps firing for keep_firing (5m) and resolves at minute 11.
    assert states == ["pending", "pending"] + ["firing"] * 9 + ["resolved"]
    with store.session() as session:
        [incident] = incidents.list_incidents(session)
        texts = [e.text for e in incidents.timeline(session, incident_id=incident.id)]
    assert texts[-1].startswith("alert error-rate resolved:")
    assert incident.status == "open"  # a human resolves the incident


def test_no_duplicates_one_open_alert_per_rule(
    store: Store, clock: FrozenClock, config: Config
) -> None:
    for _ in range(5):
        sample(store, clock, "db_connections_used", 0.95)
        evaluate(store, config, clock)
        clock.advance(dt.timedelta(seconds=30))
    with store.session() as session:
        open_alerts = session.scalars(select(Alert).where(Alert.state != "resolved")).all()
        assert len(open_alerts) == 1
        assert len(incidents.list_incidents(session)) == 1
        first = open_alerts[0]
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(
            Alert(
                rule=first.rule,
                fingerprint=first.fingerprint,
                labels={},
                source="rule",
                state="pending",
                level="crit",
                summary="dup",
                started_at=clock.now(),
                last_active_at=clock.now(),
            )
        )


def test_an_alert_on_a_component_with_an_open_incident_attaches(
    store: Store, clock: FrozenClock, config: Config
) -> None:
    with store.session() as session:
        existing = incidents.open_incident(
            session,
            title="DB trouble",
            severity="P1",
            actor="alice",
            clock=clock,
            component="database",
        ).id
    sample(store, clock, "db_connections_used", 0.95)
    evaluate(store, config, clock)
    with store.session() as session:
        assert [i.id for i in incidents.list_incidents(session)] == [existing]
        texts = [e.text for e in incidents.timeline(session, incident_id=existing)]
    assert texts[-1].endswith("(attached to this open incident)")


def test_warn_escalating_to_crit_is_noted(store: Store, clock: FrozenClock, config: Config) -> None:
    sample(store, clock, "db_connections_used", 0.75)
    evaluate(store, config, clock)
    clock.advance(dt.timedelta(minutes=6))
    sample(store, clock, "db_connections_used", 0.95)
    assert evaluate(store, config, clock)["database-connections"] == ("firing", "crit")
    with store.session() as session:
        [incident] = incidents.list_incidents(session)
        assert "is now critical" in incidents.timeline(session, incident_id=incident.id)[-1].text


def test_no_data_is_not_an_alert(store: Store, clock: FrozenClock, config: Config) -> None:
    assert evaluate(store, config, clock) == {"database-connections": None, "error-rate": None}


def test_a_failing_check_opens_the_p0_it_maps_to(
    store: Store, clock: FrozenClock, config: Config
) -> None:
    result = CheckResult(
        "health",
        "http",
        "down",
        "GET /api/health: expected status 200, got 500",
        clock.now(),
        component="app",
        severity="P0",
        runbook="p0-outage",
    )
    with store.session() as session:
        alert = alerts.apply(
            session, rules.signal_from_check(result, failing=True), config=config, clock=clock
        )
        assert alert is not None and alert.state == "firing"
        [incident] = incidents.list_incidents(session)
        assert (incident.severity, incident.title) == (
            "P0",
            "health check failing: GET /api/health: expected status 200, got 500",
        )
    with store.session() as session:
        cleared = alerts.apply(
            session, rules.signal_from_check(result, failing=False), config=config, clock=clock
        )
        assert cleared is not None and cleared.state == "resolved"


def test_samples_from_checks_and_pruning(store: Store, clock: FrozenClock) -> None:
    result = CheckResult(
        "db",
        "postgres",
        "ok",
        "fine",
        clock.now(),
        metrics={"db_connections_used": 0.2, "bad": float("nan")},
    )
    with store.session() as session:
        rules.record_samples(session, [result])
    clock.advance(dt.timedelta(days=8))
    with store.session() as session:
        assert rules.prune_samples(session, before=clock.now() - dt.timedelta(days=7)) == 1


def test_a_degraded_check_warns_without_opening_an_incident(
    store: Store, clock: FrozenClock, config: Config
) -> None:
    result = CheckResult(
        "database",
        "postgres",
        "degraded",
        "statement_timeout: unset",
        clock.now(),
        component="database",
        severity="P1",
    )
    with store.session() as session:
        alert = alerts.apply(
            session, rules.signal_from_check(result, failing=True), config=config, clock=clock
        )
        assert alert is not None and (alert.state, alert.level) == ("firing", "warn")
        assert alert.incident_id is None
        assert incidents.list_incidents(session) == []


def _fail(store: Store, clock: FrozenClock, config: Config, name: str, severity: str) -> Alert:
    result = CheckResult(
        name, "http", "down", f"GET /{name}: refused", clock.now(), severity=severity
    )
    with store.session() as session:
        alert = alerts.apply(
            session, rules.signal_from_check(result, failing=True), config=config, clock=clock
        )
        assert alert is not None
        session.expunge(alert)
        return alert


def test_an_alert_storm_groups_into_the_newest_incident(store: Store, clock: FrozenClock) -> None:
    config = Config.model_validate({"alerts": {"grouping": {"window": "10m", "max_incidents": 2}}})
    first = _fail(store, clock, config, "api-1", "P2")
    clock.advance(dt.timedelta(seconds=10))
    second = _fail(store, clock, config, "api-2", "P2")
    assert first.incident_id != second.incident_id  # under the limit: one incident each
    clock.advance(dt.timedelta(seconds=10))
    third = _fail(store, clock, config, "api-3", "P2")
    worst = _fail(store, clock, config, "health", "P0")
    # The storm joins the newest incident; the P0 inside it raises that incident to P0.
    assert third.incident_id == worst.incident_id == second.incident_id
    with store.session() as session:
        assert len(incidents.list_incidents(session, open_only=True)) == 2
        assert second.incident_id is not None
        grouped = incidents.get(session, incident_id=second.incident_id)
        assert grouped.severity == "P0"
        events = incidents.timeline(session, incident_id=grouped.id)
        texts = [e.text for e in events]
        assert any(
            "alert check:api-3 firing" in t and "grouped here: 2 incidents" in t for t in texts
        )
        assert any("severity raised P2 -> P0: grouped alert check:health is P0" in t for t in texts)
    # Once the storm's incidents are older than the window, an alert opens its own again.
    clock.advance(dt.timedelta(minutes=11))
    later = _fail(store, clock, config, "api-4", "P2")
    assert later.incident_id not in (first.incident_id, second.incident_id)


def test_grouping_can_be_turned_off(store: Store, clock: FrozenClock) -> None:
    config = Config.model_validate({"alerts": {"grouping": None}})
    ids = {_fail(store, clock, config, f"api-{n}", "P2").incident_id for n in range(5)}
    assert len(ids) == 5


def test_a_storm_is_folded_in_incident_show(tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "opsbook.yaml"
    path.write_text(
        f"store: {{url: 'sqlite:///{tmp_path / 'opsbook.db'}'}}\n"
        "alerts: {grouping: {max_incidents: 1}}\n"
    )
    config = load_config(path)
    store = open_store(config.store.url.reveal())
    alerts_seen = [_fail(store, clock, config, f"api-{n}", "P2") for n in range(9)]
    store.close()
    assert {a.incident_id for a in alerts_seen} == {1}

    def show(*extra: str) -> str:
        result = CliRunner().invoke(
            app,
            ["--config", str(path), "incident", "show", "1", *extra],
            obj=AppContext(clock=clock),
        )
        assert result.exit_code == 0, result.output
        return result.output

    folded = show()
    assert "api-5 firing" in folded and "api-6 firing" not in folded
    assert "... 3 more grouped alerts (opsbook incident show 1 --all)" in folded
    everything = show("--all")
    assert "api-8 firing" in everything and "more grouped" not in everything


def _down(name: str, at: dt.datetime, summary: str = "GET /: refused") -> CheckResult:
    return CheckResult(name, "http", "down", summary, at, severity="P2")


def _open_alert(store: Store, rule: str) -> Alert:
    with store.session() as session:
        alert = session.scalars(
            select(Alert).where(Alert.rule == rule, Alert.state != "resolved")
        ).one()
        session.expunge(alert)
        return alert


def test_a_steady_failure_is_not_rewritten_every_run(store: Store, clock: FrozenClock) -> None:
    config = Config.model_validate(
        {"checks": [{"name": "api", "kind": "http", "url": "http://x/"}]}
    )
    fired_at = clock.now()
    service.process_results(store, config, [_down("api", clock.now())], clock=clock)
    clock.advance(dt.timedelta(seconds=10))
    service.process_results(store, config, [_down("api", clock.now())], clock=clock)
    assert _open_alert(store, "check:api").last_active_at == fired_at  # nothing new: no write
    clock.advance(dt.timedelta(seconds=25))  # 35 s: past REFRESH, marked active again
    service.process_results(store, config, [_down("api", clock.now())], clock=clock)
    assert _open_alert(store, "check:api").last_active_at == clock.now()
    clock.advance(dt.timedelta(seconds=5))  # new words are recorded at once
    service.process_results(store, config, [_down("api", clock.now(), "GET /: 503")], clock=clock)
    alert = _open_alert(store, "check:api")
    assert (alert.summary, alert.last_active_at) == ("GET /: 503", clock.now())


def test_one_batch_holding_a_failure_then_a_recovery(store: Store, clock: FrozenClock) -> None:
    config = Config.model_validate(
        {"checks": [{"name": "api", "kind": "http", "url": "http://x/"}]}
    )
    later = clock.now() + dt.timedelta(seconds=1)
    ok = CheckResult("api", "http", "ok", "GET /: 200", later)
    # A failure that says what it is: "failing" alone would suggest no runbook.
    down = _down("api", clock.now(), "GET /: too many connections")
    service.process_results(store, config, [down, ok], clock=clock)
    with store.session() as session:
        # It fired (an incident opened) and then resolved, in that order, in one batch.
        [alert] = session.scalars(select(Alert)).all()
        assert alert.state == "resolved" and alert.incident_id is not None
        events = incidents.timeline(session, incident_id=alert.incident_id)
        texts = [e.text for e in events if e.kind == "alert"]
        assert texts[0].startswith("alert check:api firing (crit)")
        assert texts[-1] == "alert check:api resolved: GET /: 200"
        # The ranked runbook comes after: it is written once the batch has committed.
        assert events[-1].kind == "runbook.suggested" and "p1-db-connections" in events[-1].text
