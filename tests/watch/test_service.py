"""What a batch of check results does to alerts and incidents: a check opsbook could not
evaluate (its `error` state) is a configuration problem, never an outage (issue #12, item 8)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import Config, load_config
from opsbook.context import AppContext
from opsbook.incidents import service as incidents
from opsbook.postgres.cluster import free_port
from opsbook.serving import BackgroundServer
from opsbook.store import Store, open_store
from opsbook.watch import service
from opsbook.watch.result import CheckResult
from opsbook.watch.runner import run_checks
from tests.watch.fakes import FakePrometheus


@pytest.fixture
def prometheus() -> Iterator[str]:
    server = BackgroundServer(FakePrometheus().app).start()
    try:
        yield server.url
    finally:
        server.stop()


def _checks(prometheus: str) -> str:
    return f"""\
alerts: {{grouping: {{window: 10m, max_incidents: 3}}}}
checks:
  - {{name: wrongurl, kind: prometheus, url: '{prometheus}/nope', query: up, metric: up}}
  - {{name: badquery, kind: prometheus, url: '{prometheus}', query: 'rate(', metric: up}}
  - {{name: nodb, kind: postgres}}
  - {{name: target, kind: http, url: 'http://127.0.0.1:{free_port()}/', severity: P1,
      component: app}}
"""


def _run(config: Config, store: Store, clock: FrozenClock, *names: str) -> list[CheckResult]:
    chosen = [c for c in config.checks if c.name in names]
    results = asyncio.run(run_checks(config, chosen, clock=clock))
    service.process_results(store, config, results, clock=clock)
    return results


def test_checks_that_cannot_be_evaluated_open_nothing_and_leave_the_storm_limit_alone(
    tmp_path: Path, prometheus: str, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "opsbook.yaml"
    path.write_text(
        f"store: {{url: 'sqlite:///{tmp_path / 'opsbook.db'}'}}\n" + _checks(prometheus)
    )
    config = load_config(path)
    store = open_store(config.store.url.reveal())
    try:
        with caplog.at_level(logging.INFO, logger="opsbook.watch"):
            for _ in range(2):  # the second run says nothing new
                errors = _run(config, store, clock, "wrongurl", "badquery", "nodb")
                clock.advance(dt.timedelta(seconds=10))
        assert [r.state for r in errors] == ["error"] * 3
        assert errors[0].summary.startswith("Prometheus query 'up' failed")  # a 404
        assert service.open_alerts(store) == []
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("CHECK")]
        assert len(said) == 3 and all(
            r.levelname == "ERROR" for r in caplog.records if "CHECK" in r.getMessage()
        )
        assert said[0].startswith(
            "CHECK ERROR wrongurl: opsbook could not evaluate it (fix the check; no incident):"
        )
        # The real outage opens its own incident: the errors used none of the three slots.
        _run(config, store, clock, "target")
        with store.session() as session:
            [incident] = incidents.list_incidents(session)
        assert incident.title.startswith("target check failing: GET http://127.0.0.1:")
        assert incident.severity == "P1"
    finally:
        store.close()
    shown = CliRunner(env={"COLUMNS": "250"}).invoke(
        app, ["--config", str(path), "status"], obj=AppContext(clock=clock)
    )
    assert shown.exit_code == 0, shown.output
    assert (
        "3 checks could not be evaluated (fix the check; no incident is opened): " in shown.output
    )
    assert "error (not evaluated)" in shown.output
    as_json = json.loads(
        CliRunner()
        .invoke(app, ["--config", str(path), "status", "--json"], obj=AppContext(clock=clock))
        .stdout
    )
    evaluated = {c["name"]: c["evaluated"] for c in as_json["checks"]}
    assert evaluated == {"wrongurl": False, "badquery": False, "nodb": False, "target": True}


def _result(state: str, clock: FrozenClock) -> CheckResult:
    return CheckResult("api", "http", state, f"api is {state}", clock.now(), severity="P1")  # type: ignore[arg-type]


def test_an_error_neither_resolves_nor_debounces_an_outage(
    store: Store, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Down, then opsbook cannot evaluate the check: nothing is known, so the outage's
    alert keeps firing (an error is no recovery), and the error is no failure either."""
    config = Config.model_validate(
        {"checks": [{"name": "api", "kind": "http", "url": "http://x/", "recover_after": 2}]}
    )
    for state in ("down", "error", "ok", "error", "ok"):
        with caplog.at_level(logging.INFO, logger="opsbook.watch"):
            service.process_results(store, config, [_result(state, clock)], clock=clock)
        clock.advance(dt.timedelta(seconds=40))
        if state == "error":
            [alert] = service.open_alerts(store)
            assert alert.state == "firing"  # still: one ok so far, recover_after is 2
    assert service.open_alerts(store) == []  # two oks, with errors between them: recovered
    [check] = service.check_states(store)
    assert (check.state, check.failing) == ("ok", False)
    assert "CHECK api is evaluated again (ok): api is ok" in caplog.messages
