"""One operation, two doors: `opsbook db ...` and a runbook step behave the same, because
both call the same service function. Each test here is a place where the two copies used
to disagree, proved through both doors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from opsbook.cli import app
from tests.postgres.conftest import Db, Sessions


class Doors:
    """The CLI (`db`) and the runbook engine, on one config, one store, one database."""

    def __init__(self, db: Db, database_url: str) -> None:
        self.db = db
        self.books = db.config.parent / "books"
        self.books.mkdir()
        store = db.config.read_text().split("database:")[0]
        db.config.write_text(
            f"{store}database:\n  url: {database_url}\nrunbooks:\n  paths: [books]\n"
        )

    def step(self, uses: str, with_: dict[str, Any], *, code: int = 0) -> dict[str, Any]:
        """Run a one-step runbook that `uses` the action; the step's record."""
        book = {
            "name": "door",
            "title": "Door",
            "steps": [{"id": "act", "title": "Act", "uses": uses, "with": with_}],
        }
        (self.books / "door.yaml").write_text(json.dumps(book))
        result = self.db.runner.invoke(
            app, ["--config", str(self.db.config), "runbook", "run", "door", "--yes", "--json"]
        )
        assert result.exit_code == code, result.output
        step: dict[str, Any] = json.loads(result.stdout)["steps"][0]
        return step

    def audit(self, action: str) -> list[dict[str, Any]]:
        """The audit log's entries for `action`, newest first."""
        result = self.db.runner.invoke(
            app, ["--config", str(self.db.config), "audit", "list", "--limit", "200", "--json"]
        )
        return [a for a in json.loads(result.stdout) if a["action"] == action]


@pytest.fixture
def doors(db: Db, pg_url: str) -> Doors:
    return Doors(db, pg_url)


@pytest.fixture
def sandbox_doors(db: Db, sandbox_db: str) -> Doors:
    return Doors(db, sandbox_db)


def test_kill_refuses_a_missing_pid_before_ending_any_session_through_both_doors(
    doors: Doors, sessions: Sessions, app_role: str
) -> None:
    """Drift fixed: the runbook action ended the sessions it found and only then reported
    the missing pid; the CLI refused first. Both refuse first now."""
    live = sessions.open(role=app_role)
    live.execute("select 1")
    pid = sessions.pid(live)

    typed = doors.db.run("kill", str(pid), "999999", "--yes")
    assert typed.exit_code == 2
    assert "no client session with pid 999999" in typed.output
    assert "nothing was changed" in typed.output

    step = doors.step("db.kill", {"pids": [pid, 999999]}, code=1)
    assert step["status"] == "failed"
    assert step["error"] == (
        "no client session with pid 999999 (system and replication backends are never ended)"
    )
    assert sessions.state(pid) == "idle"
    assert doors.audit("db.terminate") == []


def test_a_kept_session_is_explained_in_each_door_s_words(doors: Doors, sessions: Sessions) -> None:
    admin = sessions.open(application="psql")  # superuser-owned
    admin.execute("select 1")
    pid = sessions.pid(admin)
    typed = doors.db.json("kill", str(pid), "--yes")
    assert typed["protected"] == [
        {"pid": pid, "reason": "owned by superuser postgres (pass --force to include it)"}
    ]
    step = doors.step("db.kill", {"pids": [pid]})
    assert step["output"]["protected"] == [
        {"pid": pid, "reason": "owned by superuser postgres (set force: true to include it)"}
    ]
    assert sessions.state(pid) == "idle"


def test_archive_audits_the_same_details_and_pacing_through_both_doors(
    sandbox_doors: Doors, sandbox_db: str
) -> None:
    """Drift fixed: the runbook action audited only the cutoff and the count, and could not
    set lock_timeout, max_lag or pause; it now takes everything the CLI takes, typed as
    durations, and the audit log reads the same whichever door moved the rows."""
    typed = sandbox_doors.db.json(
        "archive", "--older-than", "500d", "--with-referencing", "--batch", "300",
        "--lock-timeout", "1s", "--max-lag", "20s", "--yes",
    )  # fmt: skip
    step = sandbox_doors.step(
        "db.archive",
        {
            "older_than": "1y",
            "with_referencing": True,
            "batch": 200,
            "lock_timeout": "500ms",
            "max_lag": "30s",
            "pause": "10ms",
        },
    )
    assert step["status"] == "succeeded"
    # The step's record shows the typed inputs as durations again.
    assert (step["inputs"]["older_than"], step["inputs"]["pause"]) == ("365d", "10ms")
    by_book, by_cli = [
        a["details"] for a in sandbox_doors.audit("db.archive") if a["outcome"] == "ok"
    ]
    assert set(by_book) == set(by_cli)
    pacing = ("batch", "lock_timeout_seconds", "max_lag_seconds", "pause_seconds", "vacuum")
    assert [by_cli[k] for k in pacing] == [300, 1.0, 20.0, 0.0, "analyze"]
    assert [by_book[k] for k in pacing] == [200, 0.5, 30.0, 0.01, "analyze"]
    assert by_cli["moved"] == typed["moved"] and by_book["moved"] == step["output"]["count"]
    with psycopg.connect(sandbox_db) as conn:
        left = conn.execute(
            "select count(*) from scenario_attempts where ended_at < now() - interval '365 days'"
        ).fetchone()
    assert left == (0,)


def test_archive_refusal_names_the_input_as_each_door_s_user_wrote_it(
    sandbox_doors: Doors,
) -> None:
    typed = sandbox_doors.db.run("archive", "--yes")
    assert typed.exit_code == 2
    assert "Pass --with-referencing to archive the referencing rows with them" in typed.output
    step = sandbox_doors.step("db.archive", {}, code=1)
    assert "Set with_referencing: true to archive the referencing rows with them" in (step["error"])
    assert "--" not in step["error"]


def test_a_view_refresh_is_audited_alike_through_both_doors(sandbox_doors: Doors) -> None:
    """Drift fixed: the runbook action did not record whether a view refreshed
    concurrently; both doors do now."""
    sandbox_doors.db.json("views", "refresh", "reporting_org_daily")
    step = sandbox_doors.step("db.refresh_views", {"names": ["reporting_scenario_stats"]})
    assert step["status"] == "succeeded"
    done = {
        a["target"]: a["details"]
        for a in sandbox_doors.audit("db.view.refresh")
        if a["outcome"] == "ok"
    }
    assert done == {
        "public.reporting_org_daily": {"concurrently": True},
        "public.reporting_scenario_stats": {"concurrently": False},
    }


def test_nothing_pending_needs_no_backup_through_both_doors(doors: Doors, tmp_path: Path) -> None:
    """Drift fixed: the runbook action refused for want of a backup even with nothing to
    apply; like the CLI, both doors now refuse only when a migration would be applied."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    assert doors.db.json("migrations", "apply", "--dir", str(folder)) == {"applied": []}
    step = doors.step("db.migrate", {"dir": str(folder)})
    assert (step["status"], step["output"]["applied"]) == ("succeeded", [])
    (folder / "20250101000000_init.sql").write_text("create table notes (id int);\n")
    typed = doors.db.run("migrations", "apply", "--dir", str(folder), "--yes")
    assert typed.exit_code == 2 and "pass --no-backup" in typed.output
    step = doors.step("db.migrate", {"dir": str(folder)}, code=1)
    assert step["error"].endswith("opsbook backup verify ID, or run with no_backup: true")
    assert doors.audit("db.migrate") == []


def test_an_unreachable_database_fails_the_step_with_the_password_masked(
    doors: Doors,
) -> None:
    """Drift fixed: the CLI said it could not connect (password masked); a runbook step
    raised psycopg's error out of the engine. The step now fails with the CLI's sentence."""
    url = "postgresql://nobody:hunter22@127.0.0.1:9/x"
    typed = doors.db.run("--database-url", url, "status")
    assert typed.exit_code == 1 and "cannot connect to the target database" in typed.output
    step = doors.step("db.status", {"database_url": url}, code=1)
    assert step["status"] == "failed"
    assert step["error"].startswith("cannot connect to the target database")
    assert "hunter22" not in json.dumps(step)


def test_durations_in_a_step_are_typed(doors: Doors) -> None:
    step = doors.step("db.terminate_idle", {"older_than": "soon"}, code=1)
    assert step["status"] == "failed"
    assert "'soon' is not a duration" in step["error"]
    unit = doors.step("db.slow_queries", {"min_duration": 30}, code=1)
    assert "30 has no unit; write 30s, 30m or 30h" in unit["error"]
