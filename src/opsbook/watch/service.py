"""What happens after checks run: samples recorded, flapping debounced, alerts moved."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.incidents import service as incidents
from opsbook.status import maintenance
from opsbook.store import Store
from opsbook.watch import alerts, exclusive, history, routing, rules
from opsbook.watch.flapping import Debounce
from opsbook.watch.models import Alert, CheckState
from opsbook.watch.result import CheckResult

log = logging.getLogger("opsbook.watch")

# An unchanged check's row, and a steady failure's alert, are rewritten at most this often.
REFRESH = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class StoredState:
    """A check's check_state row as the batch found it (locked until the batch commits)."""

    failing: bool
    failures: int
    successes: int
    state: str
    at: dt.datetime


@dataclass(frozen=True)
class CheckRow:
    """A check's check_state row after this batch: its last result and debounce counters."""

    name: str
    kind: str
    state: str
    summary: str
    at: dt.datetime
    latency_ms: float | None
    failing: bool
    failures: int
    successes: int

    def changed_since(self, before: StoredState) -> bool:
        """Rewrite a check's row when its state moved, else at most every REFRESH."""
        moved = (self.failing, self.failures, self.successes, self.state) != (
            before.failing,
            before.failures,
            before.successes,
            before.state,
        )
        return moved or self.at - before.at >= REFRESH

    def params(self) -> dict[str, Any]:
        """The row as a bulk statement's parameters."""
        return dict(vars(self))


@dataclass(frozen=True)
class OpenCheckAlert:
    """What deciding whether to touch a check's open alert needs to know of it."""

    state: str
    level: str
    summary: str
    last_active_at: dt.datetime


def process_results(
    store: Store, config: Config, results: Sequence[CheckResult], *, clock: Clock
) -> list[Alert]:
    """Samples, debounced states and alerts for a batch of results, in one transaction;
    then runbooks ranked for the incidents it opened. Returns the alerts it moved.

    At a thousand checks a second the per-result cost decides everything: states and open
    alerts are read in one query each, samples written in one statement, and the alert
    machinery runs only for checks that fail or have an alert open.
    """
    if not results:
        return []
    with store.session() as session:
        # Only metrics some rule reads become samples; a check's last result is in check_state.
        wanted = {rule.metric for rule in config.alerts.rules}
        rules.record_samples(session, results, only=wanted)
        history.record(session, config.watch.downsample, results)
        names = list(dict.fromkeys(r.name for r in results))
        stored = _stored_states(session, names)
        quiet = _in_maintenance(session, config, clock.now())
        open_alerts = _open_check_alerts(session, names)
        rows, signals = _debounce(results, config, stored, open_alerts, quiet, now=clock.now())
        batch = alerts.apply_many(session, signals, config=config, clock=clock)
        _write_states(session, rows, stored)
    routing.suggest_runbooks(store, config, batch.routed, clock=clock)  # committed: now rank
    return [alert for alert in batch.alerts if alert is not None]


def _in_maintenance(session: Session, config: Config, now: dt.datetime) -> dict[str, int]:
    """The checks of components under maintenance now (none read without components)."""
    if not config.status.components:
        return {}
    return maintenance.checks_in_maintenance(session, status=config.status, now=now)


def _quieted(signal: alerts.Signal, quiet: dict[str, int]) -> alerts.Signal:
    """A failing check of a component under maintenance: its alert is recorded, marked as
    in maintenance, and opens no incident (it still joins one already open for its
    component, where a responder is looking)."""
    check = signal.labels.get("check")
    if signal.level is None or check not in quiet:
        return signal
    summary = f"{alerts.IN_MAINTENANCE}{quiet[check]}: {signal.summary}"
    return replace(signal, summary=summary, opens_incident=False)


def _stored_states(session: Session, names: list[str]) -> dict[str, StoredState]:
    query = (
        select(
            CheckState.name,
            CheckState.failing,
            CheckState.failures,
            CheckState.successes,
            CheckState.state,
            CheckState.at,
        )
        .where(CheckState.name.in_(names))
        .with_for_update()
    )
    return {
        name: StoredState(bool(failing), int(failures), int(successes), state, at)
        for name, failing, failures, successes, state, at in session.execute(query)
    }


def _open_check_alerts(session: Session, names: list[str]) -> dict[str, OpenCheckAlert | None]:
    query = select(Alert.rule, Alert.state, Alert.level, Alert.summary, Alert.last_active_at).where(
        Alert.state != "resolved",
        Alert.source == "check",
        Alert.rule.in_([rules.check_rule(name) for name in names]),
    )
    return {
        rule: OpenCheckAlert(state, level, summary, last_active_at)
        for rule, state, level, summary, last_active_at in session.execute(query)
    }


def _debounce(
    results: Sequence[CheckResult],
    config: Config,
    stored: dict[str, StoredState],
    open_alerts: dict[str, OpenCheckAlert | None],
    quiet: dict[str, int],
    *,
    now: dt.datetime,
) -> tuple[dict[str, CheckRow], list[alerts.Signal]]:
    """Each result through its check's debounce: the checks' new rows, and the signals
    that need alert work (None in `open_alerts`: an alert this batch opens)."""
    checks = {c.name: c for c in config.checks}
    rows: dict[str, CheckRow] = {}
    signals: list[alerts.Signal] = []
    for result in results:
        check = checks.get(result.name)
        # A check's earlier result in this batch counts before what the store held.
        before = rows.get(result.name) or stored.get(result.name)
        gate = Debounce(
            fail_after=check.fail_after if check else 1,
            recover_after=check.recover_after if check else 1,
            failing=before.failing if before else False,
            failures=before.failures if before else 0,
            successes=before.successes if before else 0,
        )
        evaluated = result.state != "error"
        if evaluated:
            gate.observe(result.ok)
        _say_evaluated(result, before.state if before else None)
        rows[result.name] = CheckRow(
            name=result.name,
            kind=result.kind,
            state=result.state,
            summary=result.summary,
            at=result.at,
            latency_ms=result.latency_ms,
            failing=gate.failing,
            failures=gate.failures,
            successes=gate.successes,
        )
        if not evaluated:
            continue  # nothing learnt about the service: its alert stays as it was
        signal = _quieted(rules.signal_from_check(result, failing=gate.failing), quiet)
        if signal.level is None and signal.rule not in open_alerts:
            continue  # healthy with nothing open: no alert work at all
        if _still_firing(signal, open_alerts.get(signal.rule), now):
            continue  # a storm's steady state: nothing new to record
        if signal.level is not None:
            open_alerts[signal.rule] = None  # a later result in this batch must see it
        signals.append(signal)
    return rows, signals


def _say_evaluated(result: CheckResult, before: str | None) -> None:
    """A check opsbook could not evaluate (a wrong URL, an invalid query, no database set)
    is a configuration problem, not an outage: it opens no incident, so it can neither page
    anyone nor use up a storm's grouping limit. It must still be seen: one loud line on
    serve's output when it starts, one when it ends (`opsbook status` shows it meanwhile)."""
    if result.state == "error" and before != "error":
        log.error(
            "CHECK ERROR %s: opsbook could not evaluate it (fix the check; no incident): %s",
            result.name,
            result.summary,
        )
    elif result.state != "error" and before == "error":
        log.info("CHECK %s is evaluated again (%s): %s", result.name, result.state, result.summary)


def _still_firing(
    signal: alerts.Signal, open_alert: OpenCheckAlert | None, now: dt.datetime
) -> bool:
    """The check's alert already fires with this level and these words, and was marked
    active recently: touching it again would only cost a write per failing check."""
    if signal.level is None or open_alert is None:
        return False
    return (
        open_alert.state == "firing"
        and open_alert.level == signal.level
        and open_alert.summary == signal.summary
        and now - open_alert.last_active_at < REFRESH
    )


def _write_states(
    session: Session, rows: dict[str, CheckRow], stored: dict[str, StoredState]
) -> None:
    # Bulk statements, not one ORM object per check: the state of 10,000 checks a cycle.
    changed = [
        r.params() for name, r in rows.items() if name in stored and r.changed_since(stored[name])
    ]
    fresh = [r.params() for name, r in rows.items() if name not in stored]
    if changed:
        session.execute(update(CheckState), changed)
    if fresh:
        session.execute(insert(CheckState), fresh)


def evaluate_rules(store: Store, config: Config, *, clock: Clock) -> list[Alert]:
    """Evaluate every rule and move its alert, in one transaction; returns the moved alerts."""
    moved: list[Alert] = []
    routed: list[routing.Routed] = []
    with store.session() as session:
        for signal in rules.evaluate_rules(session, config, now=clock.now()):
            step = alerts.apply_many(session, [signal], config=config, clock=clock)
            moved.extend(alert for alert in step.alerts if alert is not None)
            routed.extend(step.routed)
    routing.suggest_runbooks(store, config, routed, clock=clock)  # committed: now rank
    return moved


def detach_resolved(store: Store, *, clock: Clock) -> int:
    """Detach the alerts still firing into incidents a person has resolved (`alerts.detach`);
    returns how many. serve runs it with the rules: an Alertmanager alert may not be sent
    again for hours, and meanwhile it must not show as part of a resolved incident."""
    with store.session() as session:
        if not _attached_to_resolved(session):
            return 0  # the usual case, answered without waiting for the alert lock
        exclusive.hold_alert_lock(session)
        stale = _attached_to_resolved(session, lock=True)
        for alert in stale:
            alerts.detach(session, alert, clock=clock)
        return len(stale)


def _attached_to_resolved(session: Session, *, lock: bool = False) -> list[Alert]:
    still_open = [i.id for i in incidents.list_incidents(session, open_only=True)]
    # Only firing alerts have an incident (pending ones have told nobody yet); `state =`
    # reads the state index, where `!= 'resolved'` would read every alert ever stored.
    query = select(Alert).where(
        Alert.state == "firing",
        Alert.incident_id.is_not(None),
        Alert.incident_id.not_in(still_open),
    )
    return list(session.scalars(query.with_for_update() if lock else query))


def prune(store: Store, config: Config, *, clock: Clock) -> int:
    """Raw samples go after `watch.retention`, each downsampled tier after its `keep`."""
    now = clock.now()
    with store.session() as session:
        removed = rules.prune_samples(session, before=now - config.watch.retention)
        return removed + history.prune(session, config.watch.downsample, now=now)


def open_alerts(store: Store) -> list[Alert]:
    """The pending and firing alerts, oldest first."""
    with store.reading() as session:
        return list(
            session.scalars(
                select(Alert).where(Alert.state != "resolved").order_by(Alert.started_at)
            )
        )


def count_open_alerts(store: Store) -> int:
    """How many alerts are pending or firing, counted in the store: /healthz asks it during
    a storm of thousands, and must neither load them nor wait for the writer."""
    query = select(func.count()).select_from(Alert).where(Alert.state != "resolved")
    with store.reading() as session:
        return int(session.scalar(query) or 0)


def check_states(store: Store) -> list[CheckState]:
    """Every check's last result and debounce state, by name."""
    with store.reading() as session:
        return list(session.scalars(select(CheckState).order_by(CheckState.name)))
