"""Bad `maintenance:` config: one located line per problem (file:line:column: field),
exit 2, nothing run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.config.loader import parse_config
from opsbook.config.profiles import profile_text
from tests.routines.conftest import write_config


def routine(fields: str, name: str = "weekly") -> str:
    return f"maintenance:\n  routines:\n    {name}: {{{fields}}}\n"


GOOD = "runbook: checklist, schedule: weekly monday 09:00"


@pytest.mark.parametrize(
    ("maintenance", "field", "says"),
    [
        (
            routine(f"{GOOD}, timezone: Mars/Olympus"),
            "maintenance.routines.weekly.timezone",
            "'Mars/Olympus' is not an IANA time zone",
        ),
        (
            routine("runbook: checklist, cron: '61 * * * *'"),
            "maintenance.routines.weekly.cron",
            "'61 * * * *' is not a cron expression: Bad minute",
        ),
        (
            routine("runbook: checklist, cron: '0 9 * * 1 2026'"),
            "maintenance.routines.weekly.cron",
            "has 6 fields; cron has 5",
        ),
        (
            routine("runbook: nosuch, schedule: weekly monday 09:00"),
            "maintenance.routines.weekly.runbook",
            "no runbook 'nosuch'",
        ),
        (
            routine("runbook: checklist, schedule: weekly moonday 09:00"),
            "maintenance.routines.weekly.schedule",
            "'moonday' is not a day of the week",
        ),
        (
            routine("runbook: checklist, schedule: monthly first friday 25:00"),
            "maintenance.routines.weekly.schedule",
            "'25:00' is not a time of day",
        ),
        (
            routine(f"{GOOD}, cron: '0 9 * * 1'"),
            "maintenance.routines.weekly",
            "give schedule or cron, one of them",
        ),
        (
            routine("runbook: checklist, cron: '" + "1," * 5000 + "1 * * * *'"),
            "maintenance.routines.weekly.cron",
            "at most 100 characters",
        ),
        (
            routine("runbook: checklist, schedule: '" + "weekly " * 1500 + "'"),
            "maintenance.routines.weekly.schedule",
            "at most 200 characters",
        ),
        (routine(GOOD, name="'; rm -rf /'"), "maintenance.routines", "is not a name"),
        (routine(GOOD, name="'[/x]$(id)'"), "maintenance.routines", "is not a name"),
        (
            'maintenance:\n  audit_commands:\n    - [pip-audit, "a\\0b"]\n',
            "maintenance.audit_commands[0][1]",
            "should match pattern",
        ),
        ("maintenance:\n  keys:\n    stripe: {every: 1h}\n", "maintenance.keys.stripe.every", ""),
    ],
)
def test_bad_maintenance_config_is_one_located_line_and_exit_2(
    tmp_path: Path, maintenance: str, field: str, says: str
) -> None:
    path = write_config(tmp_path, maintenance)
    result = CliRunner().invoke(app, ["--config", str(path), "maintenance", "routines"])
    assert result.exit_code == 2, result.output
    line = next(line for line in result.stderr.splitlines() if str(path) in line)
    assert f"{path}:" in line and f": {field}" in line and says in line, line
    assert "\x1b" not in result.stderr


def test_hostile_control_characters_in_a_name_never_reach_the_terminal(tmp_path: Path) -> None:
    path = write_config(tmp_path, routine(GOOD, name='"\\e[31mred"'))
    result = CliRunner().invoke(app, ["--config", str(path), "maintenance", "routines"])
    assert result.exit_code == 2
    assert "\x1b" not in result.output


def test_serve_refuses_a_routine_whose_runbook_does_not_exist(tmp_path: Path) -> None:
    path = write_config(tmp_path, routine("runbook: nosuch, schedule: daily 06:00"))
    result = CliRunner().invoke(app, ["--config", str(path), "serve", "--port", "1"])
    assert result.exit_code == 2
    assert f"{path}:7:" in result.stderr and "no runbook 'nosuch'" in result.stderr


def test_the_voiceaitraining_profile_schedules_the_seeds_routine_maintenance() -> None:
    config = parse_config(profile_text("voiceaitraining"), file="opsbook.yaml", env={})
    routines = config.maintenance.routines
    assert {name: (r.runbook, r.expression) for name, r in routines.items()} == {
        "weekly": ("weekly", "0 9 * * 1"),
        "monthly": ("monthly", "0 9 * * 5#1"),
        "quarterly": ("quarterly", "0 10 * 1,4,7,10 1#1"),
    }
    assert sorted(config.maintenance.keys) == ["openai", "stripe", "vapi"]
    assert config.maintenance.audit_commands == [["pnpm", "audit"]]
