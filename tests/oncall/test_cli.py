"""`opsbook oncall ...` through the real CLI, against a real store (SQLite and
PostgreSQL), with the app's clock frozen: who is on call now, the schedule ahead,
overrides added, listed and removed (audited), and bad input refused with nothing
changed."""

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
from opsbook.store import audit, open_store

HOSTILE_NAME = "Eve [/x] [bold]b[/bold] \x1b[2J\x1b]0;t\x07 \u202e ; rm -rf / $(touch pwned)"
ZONE = "America/New_York"
# Monday 2026-03-02 12:00 in New York: alice's week (weekly, Monday 09:00, from 2026-03-02).
MONDAY_NOON = dt.datetime(2026, 3, 2, 17, 0, tzinfo=dt.UTC)


def config_text(store_url: str) -> str:
    people = [
        {"name": "alice", "contacts": {"email": "alice@example.com", "phone": "+1 555 0100"}},
        {"name": "bob", "contacts": {"slack_user_id": "U024BE7LH"}},
        {"name": HOSTILE_NAME},
    ]
    schedules = [
        {
            "name": "primary",
            "timezone": ZONE,
            "layers": [
                {
                    "users": ["alice", "bob"],
                    "rotation": "weekly",
                    "handoff": "Monday 09:00",
                    "start": "2026-03-02",
                }
            ],
        },
        {
            "name": "office",
            "timezone": "Europe/Berlin",
            "layers": [
                {"users": [HOSTILE_NAME], "rotation": "daily", "restrict": ["weekdays 09:00-17:00"]}
            ],
        },
    ]
    data = {"store": {"url": store_url}, "oncall": {"people": people, "schedules": schedules}}
    return yaml.safe_dump(data, allow_unicode=False)


class Oncall:
    """The CLI over one config file, the clock held by the test."""

    def __init__(self, path: Path, clock: FrozenClock) -> None:
        self.path, self.clock = path, clock

    def run(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(
            app, ["--config", str(self.path), "oncall", *args], obj=AppContext(clock=self.clock)
        )
        assert result.exit_code == code, (args, result.output, repr(result.exception))
        assert "\x1b" not in result.output and "\u202e" not in result.output
        return result

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self.run(*args, "--json", code=code).stdout)


@pytest.fixture
def oncall(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Oncall:
    monkeypatch.setenv("COLUMNS", "400")  # a wide terminal: table cells shown whole
    path = tmp_path / "opsbook.yaml"
    path.write_text(config_text(store_url))
    return Oncall(path, FrozenClock(MONDAY_NOON))


def audit_actions(oncall: Oncall, store_url: str) -> list[tuple[str, str]]:
    store = open_store(store_url)
    try:
        with store.session() as session:
            return [(e.action, e.target) for e in audit.entries(session, limit=100)]
    finally:
        store.close()


def test_now_says_who_until_when_and_who_is_next(oncall: Oncall) -> None:
    [now] = oncall.json("now", "--schedule", "primary")
    assert now["on_call"] == {
        "name": "alice",
        "contacts": {
            "email": "alice@example.com",
            "phone": "+1 555 0100",
            "slack_user_id": None,
            "pagerduty_user_id": None,
        },
    }
    assert now["until"] == "2026-03-09T09:00:00-04:00"  # the week spans spring forward
    assert now["next"]["person"]["name"] == "bob"
    table = oncall.run("now", "--schedule", "primary").output
    assert "alice" in table and "+1 555 0100" in table and "bob" in table
    oncall.clock.set(dt.datetime(2026, 3, 9, 13, 0, tzinfo=dt.UTC))  # 09:00 EDT: bob's turn
    assert oncall.json("now", "--schedule", "primary")[0]["on_call"]["name"] == "bob"


def test_nobody_on_call_is_loud_and_exits_one(oncall: Oncall) -> None:
    oncall.clock.set(dt.datetime(2026, 3, 7, 12, 0, tzinfo=dt.UTC))  # a Saturday in Berlin
    found = {row["schedule"]: row for row in oncall.json("now", code=1)}
    assert found["office"]["nobody"] is True and found["office"]["on_call"] is None
    assert found["office"]["until"] == "2026-03-09T09:00:00+01:00"
    assert found["primary"]["nobody"] is False
    shown = oncall.run("now", code=1).output
    assert "NOBODY" in shown
    assert "Eve [/x] [bold]b[/bold] \\x1b[2J" in shown  # next on office, shown as typed


def test_the_schedule_marks_overrides_and_gaps(oncall: Oncall) -> None:
    oncall.run(
        "override",
        "--schedule",
        "primary",
        "--who",
        "bob",
        "--from",
        "2026-03-03 18:00",
        "--to",
        "+12h",
    )
    rows = oncall.json("schedule", "--schedule", "primary", "--weeks", "2")
    assert [(r["person"]["name"], r["start"], r["end"], r["override"]) for r in rows] == [
        ("alice", "2026-03-02T12:00:00-05:00", "2026-03-03T18:00:00-05:00", False),
        ("bob", "2026-03-03T18:00:00-05:00", "2026-03-04T06:00:00-05:00", True),
        ("alice", "2026-03-04T06:00:00-05:00", "2026-03-09T09:00:00-04:00", False),
        ("bob", "2026-03-09T09:00:00-04:00", "2026-03-16T09:00:00-04:00", False),
        ("alice", "2026-03-16T09:00:00-04:00", "2026-03-16T13:00:00-04:00", False),
    ]
    assert rows[1]["override_id"] == 1 and rows[0]["layer"] == "layer 1"
    table = oncall.run("schedule", "--schedule", "primary", "--weeks", "2").output
    assert "override #1" in table
    office = oncall.json("schedule", "--schedule", "office", "--weeks", "1", code=1)
    assert [r["person"] is None for r in office][:2] == [True, False]
    assert "gap(s) where NOBODY is on call" in oncall.run("schedule", code=1).output


def test_override_add_list_remove_is_audited(
    oncall: Oncall, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSBOOK_ACTOR", "lead")
    added = oncall.json("override", "--schedule", "primary", "--who", "bob", "--to", "+8h")
    assert (added["id"], added["person"], added["from"]) == (1, "bob", "2026-03-02T12:00:00-05:00")
    assert added["to"] == "2026-03-02T20:00:00-05:00"
    assert oncall.json("now", "--schedule", "primary")[0]["on_call"]["name"] == "bob"
    [listed] = oncall.json("overrides")
    assert listed["id"] == 1 and listed["removed_at"] is None
    removed = oncall.json("override", "--remove", "1")
    assert removed["removed_at"] is not None
    assert oncall.json("overrides") == []
    assert oncall.json("now", "--schedule", "primary")[0]["on_call"]["name"] == "alice"
    assert audit_actions(oncall, store_url) == [
        ("oncall.override.remove", "primary"),
        ("oncall.override", "primary"),
    ]
    store = open_store(store_url)
    with store.session() as session:
        entries = audit.entries(session)
        assert {e.actor for e in entries} == {"lead"}
        assert entries[1].details == {
            "id": 1,
            "person": "bob",
            "from": "2026-03-02T17:00:00+00:00",
            "to": "2026-03-03T01:00:00+00:00",
            "overlaps": [],
        }
    store.close()
    assert oncall.json("overrides", "--past") == []  # removed: only the audit log has it
    again = oncall.run("override", "--remove", "1", code=2).output
    assert "override #1 was already removed" in again


def test_overlapping_overrides_the_newest_wins(oncall: Oncall) -> None:
    oncall.run("override", "-s", "primary", "--who", "bob", "--to", "2026-03-02 18:00")
    second = oncall.run(
        "override",
        "-s",
        "primary",
        "--who",
        HOSTILE_NAME,
        "--from",
        "2026-03-02 13:00",
        "--to",
        "2026-03-02 14:00",
    ).output
    assert "it overlaps override #1; where they meet, this one wins" in second
    rows = oncall.json("schedule", "-s", "primary", "--weeks", "1")
    assert [(r["person"]["name"], r["override_id"]) for r in rows[:4]] == [
        ("bob", 1),
        (HOSTILE_NAME, 2),
        ("bob", 1),
        ("alice", None),
    ]


def test_times_without_a_zone_are_the_schedules_wall_clock(oncall: Oncall) -> None:
    # 02:30 on 2026-03-08 does not exist in New York: the override starts at 03:00 EDT.
    added = oncall.json(
        "override",
        "-s",
        "primary",
        "--who",
        "bob",
        "--from",
        "2026-03-08 02:30",
        "--to",
        "2026-03-08 12:00 Europe/Berlin",
    )
    assert added["from"] == "2026-03-08T03:00:00-04:00"
    assert added["to"] == "2026-03-08T07:00:00-04:00"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--schedule", "primary", "--who", "mallory", "--to", "+1h"], "no person named 'mallory'"),
        (["--schedule", "primry", "--who", "bob", "--to", "+1h"], "(did you mean 'primary'?)"),
        (["--who", "bob", "--to", "+1h"], "which schedule? give --schedule, one of 'primary'"),
        (
            [
                "-s",
                "primary",
                "--who",
                "bob",
                "--from",
                "2026-03-03 10:00",
                "--to",
                "2026-03-03 09:00",
            ],
            "the override must end after it starts",
        ),
        (
            [
                "-s",
                "primary",
                "--who",
                "bob",
                "--from",
                "2026-03-03 10:00",
                "--to",
                "2026-03-03 10:00",
            ],
            "the override must end after it starts",
        ),
        (
            ["-s", "primary", "--who", "bob", "--from", "2026-01-01", "--to", "2026-01-02"],
            "before now",
        ),
        (
            ["-s", "primary", "--who", "bob", "--from", "Funday 25:00", "--to", "+1h"],
            "--from: 'Funday 25:00' is not a time",
        ),
        (
            ["-s", "primary", "--who", "bob", "--to", "+99999999999y"],
            "--to: '99999999999y' is longer",
        ),
        (
            ["-s", "primary", "--who", "bob", "--to", "99999-01-01"],
            "--to: '99999-01-01' is not a time",
        ),
        (["-s", "primary", "--who", "bob"], "--who and --to are needed"),
        (
            ["-s", "primary", "--who", "[/x] \x1b[31m; rm -rf / $(id) \"'", "--to", "+1h"],
            "no person named '[/x] \\x1b[31m; rm -rf / $(id) \"\\''",
        ),
        (["-s", "primary", "--who", "bob\x00", "--to", "+1h"], "no person named 'bob\\x00'"),
        (["-s", "primary\x00", "--who", "bob", "--to", "+1h"], "no schedule named 'primary\\x00'"),
        (["--remove", "abc"], "--remove: 'abc' is not an override id"),
        (["--remove", "9" * 40], "is not an override id"),
        (["--remove", "42"], "no override #42"),
    ],
)
def test_bad_override_input_is_refused_and_changes_nothing(
    oncall: Oncall, store_url: str, args: list[str], said: str
) -> None:
    output = oncall.run("override", *args, code=2).output
    assert said in " ".join(output.split()), output
    assert oncall.json("overrides", "--past") == []
    assert audit_actions(oncall, store_url) == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["now", "--schedule", "[/x]"], "no schedule named '[/x]'"),
        (["schedule", "--weeks", "0"], "is not in the range 1<=x<=104"),
        (["schedule", "--weeks", "1" + "0" * 30], "is not in the range 1<=x<=104"),
        (["overrides", "--schedule", "nope"], "no schedule named 'nope'"),
    ],
)
def test_bad_read_input_is_refused(oncall: Oncall, args: list[str], said: str) -> None:
    assert said in oncall.run(*args, code=2).output


def test_no_schedules_configured_says_where_to_add_them(tmp_path: Path) -> None:
    path = tmp_path / "opsbook.yaml"
    path.write_text(f"store:\n  url: sqlite:///{tmp_path / 's.db'}\n")
    runner = Oncall(path, FrozenClock(MONDAY_NOON))
    for command in ("now", "schedule"):
        assert "oncall.schedules in opsbook.yaml" in runner.run(command, code=2).output
