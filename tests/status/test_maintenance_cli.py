"""`opsbook maintenance ...` through the real CLI and store, clock frozen: scheduled,
listed, started, completed and cancelled (each audited); bad input refused with exit 2
and nothing changed; hostile titles kept as data or refused, never interpreted; a
maintenance under way shown by `opsbook status`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.context import AppContext
from opsbook.status.models import Maintenance
from opsbook.store import open_store
from opsbook.store.models import AuditEntry
from tests.status.factories import config_data


class Cli:
    def __init__(self, path: Path, clock: FrozenClock, store_url: str) -> None:
        self.path, self.clock, self.url = path, clock, store_url

    def run(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(
            app, ["--config", str(self.path), *args], obj=AppContext(clock=self.clock)
        )
        assert result.exit_code == code, (args, result.output, repr(result.exception))
        assert "\x1b" not in result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def rows(self) -> tuple[int, int]:
        """How many maintenances and audit rows the store holds."""
        store = open_store(self.url)
        try:
            with store.reading() as session:
                return (
                    session.query(Maintenance).count(),
                    session.query(AuditEntry).count(),
                )
        finally:
            store.close()


@pytest.fixture
def cli(tmp_path: Path, store_url: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("COLUMNS", "400")
    path = tmp_path / "opsbook.yaml"
    path.write_text(yaml.safe_dump(config_data(store_url)))
    return Cli(path, clock, store_url)


def test_the_lifecycle_is_audited(cli: Cli) -> None:
    made = cli.json(
        "maintenance", "schedule", "--title", "Database upgrade", "--components", "database,Email",
        "--from", "2026-03-02 12:00", "--to", "+2h", "--message", "Brief pauses.",
    )  # fmt: skip
    assert made["components"] == ["Database", "Email"] and made["status"] == "scheduled"
    assert made["from"] == "2026-03-02T12:00:00+01:00"  # the page's zone (Europe/Berlin)
    [listed] = cli.json("maintenance", "list")
    assert listed["id"] == made["id"]
    assert cli.json("maintenance", "start", str(made["id"]))["status"] == "in_progress"
    shown = cli.run("status").stdout
    assert f"in maintenance #{made['id']}" in shown and "Database, Email" in shown
    assert cli.json("status")["maintenance"][0]["id"] == made["id"]
    assert cli.json("maintenance", "complete", str(made["id"]))["status"] == "completed"
    assert cli.json("maintenance", "list") == []
    assert cli.json("maintenance", "list", "--all")[0]["status"] == "completed"
    other = cli.json(
        "maintenance", "schedule", "--title", "Later", "--components", "Email",
        "--from", "2026-03-03 12:00", "--to", "2026-03-03 13:00",
    )  # fmt: skip
    assert cli.json("maintenance", "cancel", str(other["id"]))["status"] == "cancelled"
    cli.run("maintenance", "cancel", str(other["id"]), code=2)
    assert cli.rows() == (2, 5)


HOSTILE_TITLES = ["[/x] [bold]b[/bold] ; rm -rf / $(touch pwned) 'q' \"q\""]


def test_hostile_titles_are_data(cli: Cli) -> None:
    [title] = HOSTILE_TITLES
    made = cli.json(
        "maintenance", "schedule", "--title", title, "--components", "Email",
        "--from", "now", "--to", "+1h",
    )  # fmt: skip
    assert made["title"] == title
    said = cli.run(
        "maintenance", "schedule", "--title", title, "--components", "Email",
        "--from", "now", "--to", "+1h",
    ).stdout  # fmt: skip
    assert "[/x] [bold]b[/bold]" in said  # shown as typed, not as markup
    assert not Path("pwned").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--components", "Billing"], "no public component named 'Billing'"),
        (["--components", ""], "at least one public component"),
        (["--components", "Email,email"], "listed twice"),
        (["--to", "2026-03-02 10:00", "--from", "2026-03-02 11:00"], "must end after it starts"),
        (["--to", "+30d"], "at most 7d"),
        (["--to", "+99999999999999999999y"], "--to"),
        (["--title", "a\x1b[2Jb"], "control character"),
        (["--title", "a\x00b"], "control character"),
        (["--title", "x" * 201], "at most 200"),
        (["--title", "  "], "must not be empty"),
        (["--from", "tomorrow-ish"], "--from"),
    ],
)
def test_bad_input_changes_nothing(cli: Cli, args: list[str], words: str) -> None:
    given = {"--title": "Work", "--components": "Email", "--from": "now", "--to": "+1h"}
    for key, value in zip(args[::2], args[1::2], strict=True):
        given[key] = value
    flat = [part for pair in given.items() for part in pair]
    before = cli.rows()
    result = cli.run("maintenance", "schedule", *flat, code=2)
    assert words in result.output.replace("\n", " ")
    assert cli.rows() == before


def test_unknown_ids_are_refused(cli: Cli) -> None:
    assert "no maintenance #7" in cli.run("maintenance", "start", "7", code=2).output
    assert "ID" in cli.run("maintenance", "complete", "; rm -rf /", code=2).output
    assert "ID" in cli.run("maintenance", "cancel", "9" * 400, code=2).output
