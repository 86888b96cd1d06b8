"""`opsbook oncall escalation` and the escalation line of `incident show`, through the
real CLI with a frozen clock; names that are Rich markup or escapes are shown as text."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.context import AppContext

HOSTILE = "Eve [/x] [bold]b[/bold] \x1b[2J ; rm -rf / $(touch pwned) <!channel>"
NOON = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)


def config_text(store_url: str) -> str:
    data = {
        "store": {"url": store_url},
        "oncall": {
            "people": [{"name": "Alice"}, {"name": HOSTILE}, {"name": "CTO"}],
            "schedules": [
                {
                    "name": "primary",
                    "timezone": "UTC",
                    "layers": [{"users": ["Alice"], "rotation": "weekly"}],
                }
            ],
        },
        "escalation": {
            "policies": [
                {
                    "name": "default",
                    "repeat": 2,
                    "levels": [
                        {"targets": [{"schedule": "primary"}]},
                        {"targets": [{"person": HOSTILE}], "delay": "10m"},
                        {"targets": [{"person": "CTO"}]},
                    ],
                }
            ]
        },
    }
    return yaml.safe_dump(data, allow_unicode=False)


class Cli:
    def __init__(self, path: Path, clock: FrozenClock) -> None:
        self.path, self.clock = path, clock

    def run(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(
            app, ["--config", str(self.path), *args], obj=AppContext(clock=self.clock)
        )
        assert result.exit_code == code, (args, result.output, repr(result.exception))
        assert "\x1b" not in result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)


@pytest.fixture
def cli(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("COLUMNS", "400")
    path = tmp_path / "opsbook.yaml"
    path.write_text(config_text(store_url))
    return Cli(path, FrozenClock(NOON))


def test_the_policies_read_in_words_and_as_json(cli: Cli) -> None:
    view = cli.json("oncall", "escalation")
    [policy] = view["policies"]
    assert policy["covers"] == "P0, P1"
    assert policy["levels"][1] == {"targets": [HOSTILE], "delay": "10m"}
    assert policy["words"][0] == (
        "level 1: page on call in primary; unacknowledged after 5 min, then the next level"
    )
    assert policy["words"][-1] == "the whole policy runs 3 times in all"
    text = cli.run("oncall", "escalation").output
    assert "Eve [/x] [bold]b[/bold]" in text and "\\x1b[2J" in text
    assert "level 3: page CTO; unacknowledged after 5 min, then repeat" in text


def test_incident_show_says_where_escalation_stands(cli: Cli) -> None:
    opened = cli.json("incident", "open", "--sev", "P0", "--title", "Site down")
    assert opened["escalation"]["state"] == "paging"
    assert opened["escalation"]["next"] == {
        "what": "page",
        "level": 1,
        "cycle": 0,
        "clock": None,
        "due_at": "2026-01-05T12:00:00+00:00",
    }
    shown = cli.run("incident", "show", str(opened["id"])).output
    assert "escalation paging (policy default); next: page level 1" in shown
    quiet = cli.json("incident", "open", "--sev", "P3", "--title", "Typo")
    assert quiet["escalation"]["state"] == "not covered"
    assert "escalation" not in cli.run("incident", "show", str(quiet["id"])).output
