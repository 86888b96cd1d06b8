"""Online archival on a real server: exact by count and checksum, even when killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from tests.conftest import wait_for
from tests.postgres.conftest import Db

CHECKSUM = """
select count(*), coalesce(sum(hashtext(t::text)::bigint), 0) from (
    select * from scenario_attempts where id <= %(max)s
    union all
    select * from scenario_attempts_archive where id <= %(max)s
) t
"""


def _state(url: str, max_id: int) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        count, checksum = conn.execute(CHECKSUM, {"max": max_id}).fetchone() or (0, 0)
        both = conn.execute(
            "select count(*) from scenario_attempts a join scenario_attempts_archive b using (id)"
        ).fetchone()
        old = conn.execute(
            "select count(*) from scenario_attempts where ended_at < now() - interval '1 year'"
        ).fetchone()
        archived = conn.execute("select count(*) from scenario_attempts_archive").fetchone()
        open_rows = conn.execute(
            "select count(*) from scenario_attempts where ended_at is null"
        ).fetchone()
    return {
        "count": count,
        "checksum": checksum,
        "in_both": both[0] if both else None,
        "old_left": old[0] if old else None,
        "archived": archived[0] if archived else None,
        "in_progress": open_rows[0] if open_rows else None,
    }


def _max_id(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select greatest((select max(id) from scenario_attempts),"
            " (select max(id) from scenario_attempts_archive))"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def sandbox_db_cli(db: Db, sandbox_db: str) -> Db:
    text = db.config.read_text().split("database:")[0]
    db.config.write_text(text + f"database:\n  url: {sandbox_db}\n")
    return db


def test_refuses_while_rows_are_referenced_then_archives_them_too(
    sandbox_db_cli: Db, sandbox_db: str
) -> None:
    with psycopg.connect(sandbox_db, autocommit=True) as conn:
        conn.execute(
            "insert into attempt_feedback (attempt_id, body) select id, 'good call'"
            " from scenario_attempts where ended_at < now() - interval '1 year'"
            " order by id limit 3"
        )
    max_id = _max_id(sandbox_db)
    before = _state(sandbox_db, max_id)
    refused = sandbox_db_cli.run("archive", "--yes")
    assert refused.exit_code == 2
    assert (
        "referenced by public.attempt_feedback(attempt_id) via attempt_feedback_attempt_id_fkey"
    ) in refused.output
    assert _state(sandbox_db, max_id) == before

    done = sandbox_db_cli.json("archive", "--yes", "--with-referencing", "--batch", "250")
    after = _state(sandbox_db, max_id)
    assert done["moved"] == before["old_left"] > 0
    assert (after["count"], after["checksum"], after["in_both"], after["old_left"]) == (
        before["count"],
        before["checksum"],
        0,
        0,
    )
    assert after["in_progress"] == before["in_progress"]  # NULL ended_at never moves
    with psycopg.connect(sandbox_db) as conn:
        assert conn.execute("select count(*) from attempt_feedback_archive").fetchone() == (3,)
        assert conn.execute("select count(*) from attempt_feedback").fetchone() == (0,)
    again = sandbox_db_cli.json("archive", "--yes", "--with-referencing")
    assert (again["candidates"], again["moved"]) == (0, 0)


def test_dry_run_moves_nothing(sandbox_db_cli: Db, sandbox_db: str) -> None:
    before = _state(sandbox_db, _max_id(sandbox_db))
    plan = sandbox_db_cli.json("archive", "--with-referencing", "--dry-run")
    assert plan["dry_run"] is True and plan["candidates"] == before["old_left"]
    assert plan["referencing"][0]["archive"] == "public.attempt_feedback_archive"
    assert _state(sandbox_db, _max_id(sandbox_db)) == before
    unasked = sandbox_db_cli.run("archive", "--with-referencing")  # no --yes, no terminal
    assert "dry run: pass --yes" in unasked.output
    assert _state(sandbox_db, _max_id(sandbox_db)) == before


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--table", "scenario_attemps"], "unknown table 'public.scenario_attemps'"),
        (["--column", "endedat"], "has no column 'endedat' (did you mean 'ended_at'?)"),
        (["--column", "score"], "public.scenario_attempts.score is numeric(5,2), not a timestamp"),
        (["--to", "orgs"], "public.orgs does not have the columns of public.scenario_attempts"),
        (["--table", 'scenario_attempts"; drop table orgs; --'], "unknown table"),
        (["--to", "x.y.z"], "--to 'x.y.z' is not a table name"),
        (["--table", "reporting_org_daily"], "public.reporting_org_daily is not a table"),
        (["--older-than", "ages"], "--older-than: 'ages' is not a duration"),
    ],
)
def test_bad_input_changes_nothing(
    sandbox_db_cli: Db, sandbox_db: str, args: list[str], error: str
) -> None:
    before = _state(sandbox_db, _max_id(sandbox_db))
    result = sandbox_db_cli.run("archive", "--yes", "--with-referencing", *args)
    assert result.exit_code == 2, result.output
    assert error in result.output
    assert _state(sandbox_db, _max_id(sandbox_db)) == before
    with psycopg.connect(sandbox_db) as conn:
        assert conn.execute("select to_regclass('orgs') is not null").fetchone() == (True,)


class Writer:
    """The app, inserting and reading attempts at a steady rate while archival runs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.inserted = 0
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True, application_name="web") as conn:
                user, scenario = conn.execute(
                    "select u.id, s.id from users u, scenarios s limit 1"
                ).fetchone() or ("", 0)
                while not self.stop.is_set():
                    conn.execute(
                        "insert into scenario_attempts (org_id, user_id, scenario_id, started_at)"
                        " select org_id, id, %s, now() from users where id = %s",
                        (scenario, user),
                    )
                    conn.execute(
                        "select count(*) from scenario_attempts where user_id = %s", (user,)
                    )
                    self.inserted += 1
                    self.stop.wait(0.005)
        except BaseException as exc:
            self.errors.append(exc)

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


@pytest.fixture
def writer(sandbox_db: str) -> Iterator[Writer]:
    with Writer(sandbox_db) as running:
        yield running
    assert running.errors == []


@pytest.mark.slow
def test_sigkill_mid_archive_then_resume_loses_nothing(
    sandbox_db_cli: Db, sandbox_db: str, writer: Writer
) -> None:
    max_id = _max_id(sandbox_db)
    before = _state(sandbox_db, max_id)
    command = [
        sys.executable,
        "-m",
        "opsbook",
        "--config",
        str(sandbox_db_cli.config),
        "db",
        "archive",
        "--yes",
        "--with-referencing",
        "--batch",
        "40",
        "--pause",
        "30ms",
    ]
    child = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OPSBOOK_ACTOR": "archiver"},
    )
    try:
        wait_for(lambda: (_state(sandbox_db, max_id)["archived"] or 0) >= 200, timeout=60)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    killed = _state(sandbox_db, max_id)
    assert 0 < killed["archived"] < before["old_left"]  # really stopped half-way
    assert (killed["count"], killed["checksum"], killed["in_both"]) == (
        before["count"],
        before["checksum"],
        0,
    )

    resumed = subprocess.run(command[:-2], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = _state(sandbox_db, max_id)
    assert (final["count"], final["checksum"], final["in_both"], final["old_left"]) == (
        before["count"],
        before["checksum"],
        0,
        0,
    )
    assert final["archived"] == before["old_left"]
    writer.__exit__()  # stop the app before counting what it wrote, or the count races it
    assert writer.inserted > 0
    with psycopg.connect(sandbox_db) as conn:
        new_rows = conn.execute(
            "select count(*) from scenario_attempts where id > %s", (max_id,)
        ).fetchone()
    assert new_rows is not None and new_rows[0] >= writer.inserted - 1  # the app lost nothing
    audit = json.loads(
        CliRunner()
        .invoke(app, ["--config", str(sandbox_db_cli.config), "audit", "list", "--json"])
        .stdout
    )
    archives = [(a["outcome"], a["unfinished"]) for a in audit if a["action"] == "db.archive"]
    # Newest first: the resumed run started and finished; the killed one never finished.
    assert archives == [("ok", False), ("started", False), ("started", True)]
