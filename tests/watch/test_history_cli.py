"""`opsbook history` and the uptime column of `opsbook status`, over a store filled with
a day of results at an injected clock."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import load_config
from opsbook.context import AppContext
from opsbook.sandbox.alertmanager import alert_group
from opsbook.store import open_store
from opsbook.watch import alertmanager, service
from opsbook.watch.history_cli import bar, percent
from opsbook.watch.result import CheckResult, State

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


class History:
    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "opsbook.yaml"
        self.path.write_text(f"""\
store:
  url: sqlite:///{tmp_path / "opsbook.db"}
checks:
  - {{name: health, kind: http, url: "http://127.0.0.1:9/api/health"}}
  - {{name: database, kind: postgres}}
  - {{name: idle, kind: http, url: "http://127.0.0.1:9/"}}
""")
        self.clock = FrozenClock(START)
        self.config = load_config(self.path)

    def fill(self) -> None:
        """A day of runs every 10 minutes; health down 12:00-13:00, database degraded once."""
        store = open_store(self.config.store.url.reveal())
        batch = []
        for step in range(144):
            at = START + dt.timedelta(minutes=10 * step)
            health: State = "down" if 12 <= at.hour < 13 else "ok"
            batch.append(CheckResult("health", "http", health, health, at, 40.0 + step))
            batch.append(
                CheckResult(
                    "database",
                    "postgres",
                    "degraded" if step == 3 else "ok",
                    "vitals",
                    at,
                    metrics={"db_connections_used": 0.2 + (0.5 if step == 100 else 0)},
                )
            )
        service.process_results(store, self.config, batch, clock=self.clock)
        store.close()
        self.clock.set(START + dt.timedelta(days=1))

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(
            app, ["--config", str(self.path), *args], obj=AppContext(clock=self.clock)
        )


@pytest.fixture
def desk(tmp_path: Path) -> History:
    history = History(tmp_path)
    history.fill()
    return history


def test_uptime_per_check_as_json(desk: History) -> None:
    result = desk.run("history", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["resolution_seconds"] == 300
    checks = {c["name"]: c for c in data["checks"]}
    assert (checks["health"]["runs"], checks["health"]["down"]) == (144, 6)
    assert checks["health"]["uptime"] == pytest.approx(138 / 144)
    assert checks["health"]["latency_max_ms"] == 40.0 + 143
    assert checks["database"]["uptime"] == 1 and checks["database"]["degraded"] == 1
    assert checks["idle"] == {"name": "idle", "runs": 0, "buckets": []}
    assert len(checks["health"]["buckets"]) == 144
    assert checks["health"]["buckets"][72] == {
        "start": "2026-03-01T12:00:00+00:00",
        "uptime": 0.0,
        "runs": 1,
        "ok": 0,
        "degraded": 0,
        "down": 1,
        "latency_avg_ms": 112.0,
        "latency_max_ms": 112.0,
    }


def test_table_with_a_bar_and_a_shorter_window(desk: History) -> None:
    result = desk.run("history", "health", "--since", "6h")
    assert result.exit_code == 0, result.output
    # 18:00-24:00 has no outage; the whole-day view does.
    assert "100%" in result.output and "36" in result.output
    day = desk.run("history", "health")
    assert "95.8%" in day.output


def test_long_windows_read_the_hourly_tier(desk: History) -> None:
    result = desk.run("history", "health", "--since", "120d", "--json")
    data = json.loads(result.stdout)
    assert data["resolution_seconds"] == 3600
    assert len(data["checks"][0]["buckets"]) == 24
    assert data["checks"][0]["buckets"][12]["down"] == 6


def test_one_metric_bucket_by_bucket(desk: History) -> None:
    result = desk.run("history", "--metric", "db_connections_used", "--json")
    assert result.exit_code == 0, result.output
    buckets = json.loads(result.stdout)["buckets"]
    assert len(buckets) == 144
    assert max(b["high"] for b in buckets) == pytest.approx(0.7)
    table = desk.run("history", "--metric", "db_connections_used", "--since", "1h")
    assert table.exit_code == 0 and "0.2" in table.output


def test_bad_input_names_the_value(desk: History) -> None:
    result = desk.run("history", "--since", "yesterday")
    assert result.exit_code == 2 and "--since: 'yesterday' is not a duration" in result.output
    result = desk.run("history", "--since", "0s")
    assert result.exit_code == 2 and "--since: '0s' is too short: it must be at least 1s" in (
        result.output
    )
    result = desk.run("history", "helth")
    assert result.exit_code == 2 and "did you mean 'health'?" in result.output
    result = desk.run("history", "--metric", "db_conections_used")
    assert result.exit_code == 2
    assert "did you mean 'db_connections_used'?" in result.output


def test_status_shows_uptime_over_a_day(desk: History) -> None:
    result = desk.run("status", "--json")
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["health"]["uptime_24h"] == pytest.approx(138 / 144)


def test_percent_never_rounds_up_to_a_promise() -> None:
    assert percent(1.0) == "100%"
    assert percent(0.99999) == "99.99%"
    assert percent(0.75) == "75%"
    assert percent(None) == "no runs"


def test_bar_marks_each_slice() -> None:
    from opsbook.watch.history import Uptime

    def counts(down: int, degraded: int = 0) -> Uptime:
        return Uptime("x", 4, 4 - down - degraded, degraded, down, None, None, START)

    hour = dt.timedelta(hours=1)
    series = [(START, counts(0)), (START + hour, counts(1)), (START + 2 * hour, counts(3))]
    marks = bar(series, START, START + 4 * hour, width=4)
    assert marks == "[green]█[/][yellow]▄[/][red]▁[/][grey50]·[/]"


def test_status_says_when_results_stopped_coming(desk: History) -> None:
    # The day's last results are 10 minutes old; the checks run every 30 s.
    result = desk.run("status")
    assert result.exit_code == 0, result.output
    assert "2 of 2 checks have no fresh result" in result.output
    assert "is opsbook serve running?" in result.output
    data = json.loads(desk.run("status", "--json").stdout)
    assert {c["name"]: c["stale"] for c in data["checks"]} == {"database": True, "health": True}


def test_status_puts_the_worst_first_and_folds_healthy_checks(tmp_path: Path) -> None:
    names = [f"api-{n:02}" for n in range(25)]
    path = tmp_path / "opsbook.yaml"
    path.write_text(
        f"store: {{url: 'sqlite:///{tmp_path / 'opsbook.db'}'}}\nchecks:\n"
        + "".join(f"  - {{name: {n}, kind: http, url: 'http://127.0.0.1:9/'}}\n" for n in names)
    )
    config = load_config(path)
    clock = FrozenClock(START)
    store = open_store(config.store.url.reveal())
    results = [
        CheckResult(n, "http", "down" if n == "api-24" else "ok", f"saw {n}", START) for n in names
    ]
    service.process_results(store, config, results, clock=clock)
    store.close()

    def status(*extra: str) -> str:
        result = CliRunner().invoke(
            app, ["--config", str(path), "status", *extra], obj=AppContext(clock=clock)
        )
        assert result.exit_code == 0, result.output
        return result.output

    shown = status()
    assert shown.index("api-24") < shown.index("api-00")  # failing first
    assert "no fresh result" not in shown
    # Healthy checks: one line per kind, the first names and a count (issue #17, item 7).
    assert "ok http (24): api-00, api-01," in " ".join(shown.split())
    assert "api-11, ... 12 more" in shown and "api-12" not in shown
    everything = status("--all")
    assert "api-23" in everything and "more" not in everything


def test_status_folds_open_alerts_past_twenty_the_most_urgent_first(tmp_path: Path) -> None:
    path = tmp_path / "opsbook.yaml"
    path.write_text(f"store: {{url: 'sqlite:///{tmp_path / 'opsbook.db'}'}}\n")
    config = load_config(path)
    clock = FrozenClock(START)
    store = open_store(config.store.url.reveal())
    storm = alert_group(25)
    for n, item in enumerate(storm["alerts"]):  # three critical ones, the last sent
        item["labels"]["severity"] = "critical" if n >= 22 else "warning"
        item["annotations"]["summary"] = f"[/x]\x1b[31m 5xx on web-{n:02}"
    alertmanager.receive(store, config, alertmanager.AmPayload.model_validate(storm), clock=clock)
    store.close()

    def status(*extra: str) -> str:
        result = CliRunner().invoke(
            app, ["--config", str(path), "status", *extra], obj=AppContext(clock=clock)
        )
        assert result.exit_code == 0, result.output
        return result.output

    shown = status()
    assert "alerts: 25 open" in shown
    assert shown.index("web-22") < shown.index("web-00")  # critical first
    assert "web-16" in shown and "web-17" not in shown  # 3 critical + the 17 oldest warnings
    assert "... and 5 more alerts open (opsbook status --all)" in shown
    assert "\x1b" not in shown and "[/x]" in shown
    everything = status("--all")
    assert "web-21" in everything and "more alerts open" not in everything
    assert len(json.loads(status("--json"))["alerts"]) == 25
