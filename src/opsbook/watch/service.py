"""What happens after checks run: samples recorded, flapping debounced, alerts moved."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.store import Store
from opsbook.watch import alerts
from opsbook.watch.flapping import Debounce
from opsbook.watch.models import Alert, CheckState
from opsbook.watch.result import CheckResult


def process_results(
    store: Store, config: Config, results: Sequence[CheckResult], *, clock: Clock
) -> list[Alert]:
    """One transaction per check result: its sample, its state, its alert."""
    checks = {c.name: c for c in config.checks}
    moved: list[Alert] = []
    for result in results:
        check = checks.get(result.name)
        with store.session() as session:
            alerts.record_samples(session, [result])
            state = session.get(CheckState, result.name, with_for_update=True)
            if state is None:
                state = CheckState(
                    name=result.name,
                    kind=result.kind,
                    state=result.state,
                    summary=result.summary,
                    at=result.at,
                    failing=False,
                    failures=0,
                    successes=0,
                )
                session.add(state)
            gate = Debounce(
                fail_after=check.fail_after if check else 1,
                recover_after=check.recover_after if check else 1,
                failing=state.failing,
                failures=state.failures,
                successes=state.successes,
            )
            gate.observe(result.ok)
            state.kind, state.state, state.summary, state.at = (
                result.kind,
                result.state,
                result.summary,
                result.at,
            )
            state.latency_ms = result.latency_ms
            state.failing, state.failures, state.successes = (
                gate.failing,
                gate.failures,
                gate.successes,
            )
            alert = alerts.apply(
                session,
                alerts.signal_from_check(result, failing=gate.failing),
                config=config,
                clock=clock,
            )
            if alert is not None:
                moved.append(alert)
    return moved


def evaluate_rules(store: Store, config: Config, *, clock: Clock) -> list[Alert]:
    moved = []
    with store.session() as session:
        for signal in alerts.evaluate_rules(session, config, now=clock.now()):
            alert = alerts.apply(session, signal, config=config, clock=clock)
            if alert is not None:
                moved.append(alert)
    return moved


def prune(store: Store, config: Config, *, clock: Clock) -> int:
    with store.session() as session:
        return alerts.prune_samples(session, before=clock.now() - config.watch.retention)


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
