"""What happens after checks run: samples recorded, flapping debounced, alerts moved."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.store import Store
from opsbook.watch import alerts, history, routing, rules
from opsbook.watch.flapping import Debounce
from opsbook.watch.models import Alert, CheckState
from opsbook.watch.result import CheckResult


def process_results(
    store: Store, config: Config, results: Sequence[CheckResult], *, clock: Clock
) -> list[Alert]:
    """Samples, debounced states and alerts for a batch of results, in one transaction.

    At a thousand checks a second the per-result cost decides everything: states and open
    alerts are read in one query each, samples written in one statement, and the alert
    machinery runs only for checks that fail or have an alert open.
    """
    checks = {c.name: c for c in config.checks}
    moved: list[Alert] = []
    if not results:
        return moved
    with store.session() as session:
        # Only metrics some rule reads become samples; a check's last result is in check_state.
        wanted = {rule.metric for rule in config.alerts.rules}
        rules.record_samples(session, results, only=wanted)
        history.record(session, config.watch.downsample, results)
        names = list(dict.fromkeys(r.name for r in results))
        previous: dict[str, tuple[Any, ...]] = {
            row[0]: tuple(row[1:])
            for row in session.execute(
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
        }
        known: dict[str, tuple[bool, int, int]] = {
            name: (bool(row[0]), int(row[1]), int(row[2])) for name, row in previous.items()
        }
        existed = set(known)
        open_checks: dict[str, tuple[Any, ...]] = {
            row[0]: tuple(row[1:])
            for row in session.execute(
                select(
                    Alert.rule, Alert.state, Alert.level, Alert.summary, Alert.last_active_at
                ).where(
                    Alert.state != "resolved",
                    Alert.source == "check",
                    Alert.rule.in_([rules.check_rule(name) for name in names]),
                )
            )
        }
        now = clock.now()
        rows: dict[str, dict[str, Any]] = {}
        signals: list[alerts.Signal] = []
        for result in results:
            check = checks.get(result.name)
            failing, failures, successes = known.get(result.name, (False, 0, 0))
            gate = Debounce(
                fail_after=check.fail_after if check else 1,
                recover_after=check.recover_after if check else 1,
                failing=failing,
                failures=failures,
                successes=successes,
            )
            gate.observe(result.ok)
            known[result.name] = (gate.failing, gate.failures, gate.successes)
            rows[result.name] = {
                "name": result.name,
                "kind": result.kind,
                "state": result.state,
                "summary": result.summary,
                "at": result.at,
                "latency_ms": result.latency_ms,
                "failing": gate.failing,
                "failures": gate.failures,
                "successes": gate.successes,
            }
            signal = rules.signal_from_check(result, failing=gate.failing)
            if signal.level is None and signal.rule not in open_checks:
                continue  # healthy with nothing open: no alert work at all
            if _still_firing(signal, open_checks.get(signal.rule), now):
                continue  # a storm's steady state: nothing new to record
            if signal.level is not None:
                open_checks[signal.rule] = ()  # a later result in this batch must see it
            signals.append(signal)
        batch = alerts.apply_many(session, signals, config=config, clock=clock)
        moved = [alert for alert in batch.alerts if alert is not None]
        # Bulk statements, not one ORM object per check: the state of 10,000 checks a cycle.
        existing = [
            r for name, r in rows.items() if name in existed and _changed(r, previous[name])
        ]
        fresh = [r for name, r in rows.items() if name not in existed]
        if existing:
            session.execute(update(CheckState), existing)
        if fresh:
            session.execute(insert(CheckState), fresh)
    routing.suggest_runbooks(store, config, batch.routed, clock=clock)  # committed: now rank
    return moved


REFRESH = dt.timedelta(seconds=30)


def _still_firing(
    signal: alerts.Signal, open_alert: tuple[Any, ...] | None, now: dt.datetime
) -> bool:
    """The check's alert already fires with this level and these words, and was marked
    active recently: touching it again would only cost a write per failing check."""
    if signal.level is None or not open_alert:
        return False
    state, level, summary, last_active_at = open_alert
    return bool(
        state == "firing"
        and level == signal.level
        and summary == signal.summary
        and now - last_active_at < REFRESH
    )


def _changed(row: dict[str, Any], before: Any) -> bool:
    """Rewrite a check's row when its state moved, else at most every 30 seconds."""
    failing, failures, successes, state, at = before
    return (row["failing"], row["failures"], row["successes"], row["state"]) != (
        failing,
        failures,
        successes,
        state,
    ) or row["at"] - at >= REFRESH


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


def prune(store: Store, config: Config, *, clock: Clock) -> int:
    """Raw samples go after `watch.retention`, each downsampled tier after its `keep`."""
    now = clock.now()
    with store.session() as session:
        removed = rules.prune_samples(session, before=now - config.watch.retention)
        return removed + history.prune(session, config.watch.downsample, now=now)


def open_alerts(store: Store) -> list[Alert]:
    with store.session() as session:
        return list(
            session.scalars(
                select(Alert).where(Alert.state != "resolved").order_by(Alert.started_at)
            )
        )


def check_states(store: Store) -> list[CheckState]:
    with store.session() as session:
        return list(session.scalars(select(CheckState).order_by(CheckState.name)))
