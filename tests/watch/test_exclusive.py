"""Alert decisions under real concurrency on the PostgreSQL store (issue #12, item 3): many
Alertmanager posts at once, to an in-process receiver and to an `opsbook serve` process
sharing one store, decide exactly as if they came one by one, and none answers 5xx."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from opsbook.clock import SYSTEM_CLOCK, FrozenClock
from opsbook.config import Config, load_config
from opsbook.incidents import service as incidents
from opsbook.postgres.cluster import free_port
from opsbook.serving import BackgroundServer
from opsbook.store import Store, open_store
from opsbook.watch import alerts, rules
from opsbook.watch.models import Alert
from opsbook.watch.result import CheckResult
from opsbook.web.app import create_app
from tests.conftest import wait_for
from tests.web.test_serve import _answers, _serve

TOKEN = "am-token-123456"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def receivers(tmp_path: Path, pg_url: str, alerts_yaml: str) -> Iterator[list[str]]:
    """Two receivers on one PostgreSQL store: one in this process, one `opsbook serve`."""
    path = tmp_path / "opsbook.yaml"
    path.write_text(
        f"store: {{url: '{pg_url}'}}\nalertmanager: {{token: {TOKEN}}}\nalerts: {alerts_yaml}\n"
    )
    config = load_config(path)
    store = open_store(config.store.url.reveal())
    here = BackgroundServer(create_app(config, store, clock=SYSTEM_CLOCK, schedule=False)).start()
    port = free_port()
    serve = _serve(path, port)
    there = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{there}/healthz"), timeout=90)
        yield [f"{here.url}/api/v1/alertmanager", f"{there}/api/v1/alertmanager"]
    finally:
        serve.send_signal(signal.SIGTERM)
        output, _ = serve.communicate(timeout=30)
        here.stop()
        store.close()
    assert "Traceback" not in output, output


def group(name: str, **labels: str) -> dict[str, Any]:
    """One Alertmanager notification: a group of one alert named `name`."""
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "status": "firing",
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name, **labels},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": name, "severity": "critical", **labels},
                "annotations": {"summary": f"{name} is firing"},
                "startsAt": "2026-03-02T09:00:00Z",
            }
        ],
    }


def post_all(urls: list[str], bodies: list[dict[str, Any]], *, workers: int = 24) -> Counter[int]:
    """Every body posted once, `workers` at a time, alternating between the receivers;
    returns how many answers had each HTTP status."""
    local = threading.local()

    def post(n: int) -> int:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=120)
        answer = local.client.post(urls[n % len(urls)], json=bodies[n], headers=AUTH)
        return int(answer.status_code)

    with ThreadPoolExecutor(workers) as pool:
        return Counter(pool.map(post, range(len(bodies))))


def _incident_of_each_alert(pg_url: str) -> tuple[int, Counter[int | None]]:
    store = open_store(pg_url)
    try:
        with store.session() as session:
            opened = len(incidents.list_incidents(session))
            per = Counter(session.scalars(select(Alert.incident_id)).all())
    finally:
        store.close()
    return opened, per


@pytest.mark.slow
def test_a_storm_of_200_groups_opens_exactly_max_incidents(tmp_path: Path, pg_url: str) -> None:
    with receivers(tmp_path, pg_url, "{grouping: {window: 10m, max_incidents: 3}}") as urls:
        answers = post_all(urls, [group(f"Storm{n}") for n in range(200)])
    assert answers == Counter({200: 200})
    opened, per_incident = _incident_of_each_alert(pg_url)
    assert opened == 3
    # Each of the first three alerts opened one; the other 197 are one storm in the newest.
    assert sorted(per_incident.values()) == [1, 1, 198]
    assert per_incident.most_common(1)[0][0] == max(i for i in per_incident if i is not None)


@pytest.mark.slow
def test_100_alerts_of_one_component_open_one_incident(tmp_path: Path, pg_url: str) -> None:
    with receivers(tmp_path, pg_url, "{grouping: null}") as urls:
        answers = post_all(urls, [group(f"Checkout{n}", service="checkout") for n in range(100)])
    assert answers == Counter({200: 100})
    opened, per_incident = _incident_of_each_alert(pg_url)
    assert (opened, list(per_incident.values())) == (1, [100])


@pytest.mark.slow
def test_one_alert_posted_300_times_at_once_is_one_alert(tmp_path: Path, pg_url: str) -> None:
    with receivers(tmp_path, pg_url, "{}") as urls:
        answers = post_all(urls, [group("CheckoutDown", service="checkout")] * 300)
    assert answers == Counter({200: 300})
    opened, per_incident = _incident_of_each_alert(pg_url)
    assert (opened, list(per_incident.values())) == (1, [1])


def test_an_alert_opened_by_a_writer_without_the_lock_is_taken_as_open(
    pg_url: str, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An older opsbook sharing the store inserts the same open alert without taking the
    lock: our batch's insert waits for it, meets the unique index, and takes the alert as
    already open (stepping it) instead of failing."""
    store = open_store(pg_url)
    config = Config.model_validate({})
    result = CheckResult("api", "http", "down", "GET /: refused", clock.now(), severity="P1")
    signal_ = rules.signal_from_check(result, failing=True)
    other = store.engine.connect()
    try:
        other.execute(
            text(
                "insert into alerts (rule, fingerprint, labels, source, state, level, summary,"
                " started_at, last_active_at, detached) values (:rule, :fp, '{}', 'check',"
                " 'pending', 'crit', 'older writer', :now, :now, false)"
            ),
            {
                "rule": signal_.rule,
                "fp": alerts.fingerprint(signal_.rule, signal_.labels),
                "now": clock.now(),
            },
        )
        failed: list[BaseException] = []
        worker = threading.Thread(target=_apply, args=(store, config, signal_, clock, failed))
        worker.start()
        wait_for(lambda: _waiting_on_a_lock(store))
        other.commit()
        worker.join(timeout=60)
    finally:
        other.close()
    try:
        assert not worker.is_alive() and not failed, failed
        assert "an alert of this batch was opened meanwhile by another writer" in caplog.text
        with store.session() as session:
            [alert] = session.scalars(select(Alert)).all()
            assert (alert.summary, alert.state) == ("GET /: refused", "firing")
            assert session.scalar(select(func.count()).select_from(Alert)) == 1
    finally:
        store.close()


def _apply(
    store: Store,
    config: Config,
    signal_: alerts.Signal,
    clock: FrozenClock,
    failed: list[BaseException],
) -> None:
    try:
        with store.session() as session:
            alerts.apply_many(session, [signal_], config=config, clock=clock)
    except BaseException as exc:
        failed.append(exc)


def _waiting_on_a_lock(store: Store) -> bool:
    with store.engine.connect() as connection:
        waiting = connection.execute(
            text(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and wait_event_type = 'Lock'"
            )
        ).scalar_one()
        connection.rollback()
    return int(waiting) > 0
