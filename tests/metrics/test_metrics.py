"""GET /metrics on a real socket: the exposition parsed back (prometheus_client.parser)
after a scripted sequence under an injected clock, hostile check names escaped, and the
door closed without the token (401) or with metrics off (404)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from opsbook import __version__
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.config.loader import parse_config
from opsbook.incidents import service as incidents
from opsbook.metrics.collector import StoreCollector, registry
from opsbook.notify import outbox
from opsbook.notify.models import Notification
from opsbook.runbooks.records import RunRecord
from opsbook.serving import BackgroundServer
from opsbook.store import Store, open_store
from opsbook.watch import service
from opsbook.watch.lag import LagMeter
from opsbook.watch.result import CheckResult, State
from opsbook.watch.scheduler import Scheduler
from opsbook.web.app import create_app
from tests.watch.test_scheduler import _cycle

TOKEN = "metrics-token-5c1d"
# What a config may name a check: quotes, a backslash, a newline, Rich markup, a shell.
HOSTILE = 'db "main"\\replica\n[/x][bold]; rm -rf / $(reboot)'
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def metrics_config(store_url: str, token: str | None = "${OPSBOOK_METRICS_TOKEN}") -> Config:
    data: dict[str, Any] = {
        "store": {"url": store_url},
        "checks": [
            {"name": "web", "kind": "command", "command": "true"},
            {"name": HOSTILE, "kind": "command", "command": "true"},
            {"name": "never-run", "kind": "command", "command": "true"},
        ],
    }
    if token is not None:
        data["serve"] = {"metrics_token": token}
    env = {"OPSBOOK_METRICS_TOKEN": TOKEN}
    return parse_config(yaml.safe_dump(data), file="opsbook.yaml", env=env)


@pytest.fixture
def served(store_url: str, clock: FrozenClock) -> Iterator[tuple[str, Store, Config]]:
    config = metrics_config(store_url)
    store = open_store(store_url)
    server = BackgroundServer(create_app(config, store, clock=clock, schedule=False)).start()
    yield server.url, store, config
    server.stop()
    store.close()


def scrape(url: str, token: str = TOKEN) -> httpx.Response:
    return httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"})


def parsed(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def result(name: str, state: State, clock: FrozenClock, latency_ms: float | None) -> CheckResult:
    return CheckResult(
        name=name, kind="command", state=state, summary=state, at=clock.now(),
        latency_ms=latency_ms, severity="P2",
    )  # fmt: skip


def test_a_scripted_sequence_reads_back_exactly(
    served: tuple[str, Store, Config], clock: FrozenClock
) -> None:
    url, store, config = served
    empty = parsed(scrape(url).text)
    assert value(empty, "opsbook_build_info", version=__version__) == 1
    assert value(empty, "opsbook_store_up") == 1
    for state in ("ok", "degraded", "down", "error"):
        assert value(empty, "opsbook_check_state", check="web", state=state) == 0
    assert value(empty, "opsbook_check_state", check="web", state="unknown") == 1
    assert all(value(empty, "opsbook_incidents_open", severity=s) == 0 for s in config.severities)
    assert value(empty, "opsbook_outbox_oldest_pending_age_seconds") == 0

    service.process_results(
        store, config,
        [result("web", "ok", clock, 120.0), result(HOSTILE, "degraded", clock, 2500.0)],
        clock=clock,
    )  # fmt: skip
    with store.session() as session:
        p0 = incidents.open_incident(session, title="down", severity="P0", actor="t", clock=clock)
        incidents.open_incident(session, title="slow", severity="P2", actor="t", clock=clock)
        done = incidents.open_incident(session, title="x", severity="P2", actor="t", clock=clock)
        incidents.resolve(
            session, incident_id=done.id, actor="t", clock=clock, policy=config.incidents,
            force=True,
        )  # fmt: skip
        for minutes in (0, 1):
            outbox.enqueue(
                session, channel="slack", kind="opened", incident_id=p0.id, payload={},
                clock=FrozenClock(clock.now() + dt.timedelta(minutes=minutes)),
            )  # fmt: skip
        session.add_all(_runs(clock, "succeeded", "succeeded", "failed", "waiting"))
    with store.session() as session:
        dead = session.query(Notification).order_by(Notification.id.desc()).first()
        assert dead is not None
        dead.status = "dead"
    clock.advance(dt.timedelta(minutes=3))

    seen = parsed(scrape(url).text)
    assert value(seen, "opsbook_check_state", check="web", state="ok") == 1
    assert value(seen, "opsbook_check_state", check=HOSTILE, state="degraded") == 1
    assert value(seen, "opsbook_check_state", check=HOSTILE, state="ok") == 0
    assert value(seen, "opsbook_check_state", check="never-run", state="unknown") == 1
    assert value(seen, "opsbook_check_latency_seconds", check="web") == 0.12
    assert value(seen, "opsbook_check_latency_seconds", check=HOSTILE) == 2.5
    assert ("opsbook_check_latency_seconds", frozenset({("check", "never-run")})) not in seen
    assert value(seen, "opsbook_alerts", state="firing") == 1  # the degraded check's warning
    assert value(seen, "opsbook_alerts", state="pending") == 0
    assert {s: value(seen, "opsbook_incidents_open", severity=s) for s in config.severities} == {
        "P0": 1, "P1": 0, "P2": 1, "P3": 0,
    }  # fmt: skip
    assert value(seen, "opsbook_outbox_messages", state="pending") == 1
    assert value(seen, "opsbook_outbox_messages", state="dead") == 1
    assert value(seen, "opsbook_outbox_messages", state="sending") == 0
    assert value(seen, "opsbook_outbox_oldest_pending_age_seconds") == 180.0
    runs = {s: value(seen, "opsbook_runbook_runs", status=s) for s in ("succeeded", "failed")}
    assert runs == {"succeeded": 2, "failed": 1}
    assert value(seen, "opsbook_runbook_runs", status="waiting") == 1
    assert value(seen, "opsbook_runbook_runs", status="interrupted") == 0


def _runs(clock: FrozenClock, *statuses: str) -> list[RunRecord]:
    return [
        RunRecord(
            runbook="p0-outage",
            source="builtin",
            definition={},
            params={},
            status=status,
            actor="t",
            host="h",
            started_at=clock.now(),
        )
        for status in statuses
    ]


def test_hostile_check_names_are_escaped_in_the_exposition(
    served: tuple[str, Store, Config], clock: FrozenClock
) -> None:
    url, store, config = served
    service.process_results(store, config, [result(HOSTILE, "down", clock, 1.0)], clock=clock)
    text = scrape(url).text
    # The text format escapes \\, " and the newline in a label value: one line per sample.
    escaped = HOSTILE.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    assert f'opsbook_check_state{{check="{escaped}",state="down"}} 1.0' in text
    assert all(line.startswith(("#", "opsbook_")) for line in text.splitlines() if line)
    assert value(parsed(text), "opsbook_check_state", check=HOSTILE, state="down") == 1


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer"],
)
def test_no_token_no_metrics(served: tuple[str, Store, Config], authorization: str) -> None:
    url, _, _ = served
    headers = {"Authorization": authorization} if authorization else {}
    answer = httpx.get(f"{url}/metrics", headers=headers)
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert "opsbook_" not in answer.text and "web" not in answer.text


def test_the_scheme_is_case_insensitive(served: tuple[str, Store, Config]) -> None:
    url, _, _ = served
    answer = httpx.get(f"{url}/metrics", headers={"Authorization": f"bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")


@pytest.mark.parametrize("token", [None, "${OPSBOOK_METRICS_UNSET}"])
def test_metrics_are_off_without_a_token(
    store_url: str, clock: FrozenClock, token: str | None
) -> None:
    config = metrics_config(store_url, token)
    store = open_store(store_url)
    server = BackgroundServer(create_app(config, store, clock=clock, schedule=False)).start()
    try:
        for attempt in ("", "Bearer", f"Bearer {TOKEN}"):
            answer = httpx.get(f"{server.url}/metrics", headers={"Authorization": attempt})
            assert answer.status_code == 404 and "opsbook_" not in answer.text
    finally:
        server.stop()
        store.close()


def test_a_store_that_cannot_answer_is_reported_not_a_failed_scrape(
    tmp_path: Any, clock: FrozenClock
) -> None:
    url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    config = metrics_config(url)
    store = open_store(url)
    server = BackgroundServer(create_app(config, store, clock=clock, schedule=False)).start()
    try:
        (tmp_path / "opsbook.db").unlink()
        (tmp_path / "opsbook.db").mkdir()  # the store's file is gone: every read fails
        store.engine.dispose()
        answer = scrape(server.url)
        assert answer.status_code == 200
        seen = parsed(answer.text)
        assert value(seen, "opsbook_store_up") == 0
        assert value(seen, "opsbook_build_info", version=__version__) == 1
    finally:
        server.stop()
        store.close()


def test_scheduler_lag_by_the_injected_clock(store: Store, clock: FrozenClock) -> None:
    config = Config.model_validate(
        {
            "watch": {"jitter": 0},
            "checks": [
                {"name": n, "kind": "command", "command": "true", "interval": "10s"}
                for n in ("a", "b")
            ],
        }
    )
    lag = LagMeter()
    scheduler = Scheduler(config, store, clock=clock, lag=lag)
    asyncio.run(_cycle(scheduler))  # both due now: on time
    clock.advance(dt.timedelta(seconds=13))  # due at 10 s, started at 13 s
    asyncio.run(_cycle(scheduler))
    own = registry(StoreCollector(config, store, clock=clock, lag=lag))
    seen = parsed(generate_latest(own).decode())
    assert value(seen, "opsbook_scheduler_last_round_lag_seconds") == 3.0
    assert value(seen, "opsbook_scheduler_lag_seconds_count") == 4
    assert value(seen, "opsbook_scheduler_lag_seconds_sum") == 6.0
    assert value(seen, "opsbook_scheduler_lag_seconds_bucket", le="0.01") == 2
    assert value(seen, "opsbook_scheduler_lag_seconds_bucket", le="2.5") == 2
    assert value(seen, "opsbook_scheduler_lag_seconds_bucket", le="5.0") == 4
    assert value(seen, "opsbook_scheduler_lag_seconds_bucket", le="+Inf") == 4
    clock.advance(dt.timedelta(seconds=7))  # due at 20 s, started at 20 s: a new round
    asyncio.run(_cycle(scheduler))
    seen = parsed(generate_latest(own).decode())
    assert value(seen, "opsbook_scheduler_last_round_lag_seconds") == 0.0
