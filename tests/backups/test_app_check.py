"""The drill's app check with real processes: the sandbox app started on a database
through DATABASE_URL and PORT becomes healthy and is stopped; a command that exits at
once fails, named, with its last words; hostile commands run nothing through a shell;
bad commands and URLs are refused before anything starts."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import psycopg
import pytest

from opsbook.backups.app_check import (
    AppResult,
    AppRun,
    as_uri,
    check_app,
    check_url,
    parse_command,
)
from opsbook.backups.errors import BackupError
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.sandbox.schema import apply_schema
from tests.conftest import process_alive

HEALTH = "/api/health"


def _check(app: AppRun, database_url: str) -> AppResult:
    return check_app(app, database_url, config=Config(), clock=FrozenClock())


@pytest.mark.slow
def test_the_sandbox_app_on_the_database_becomes_healthy_and_is_stopped(
    pg_url: str, tmp_path: Path
) -> None:
    apply_schema(pg_url)
    pids = tmp_path / "pids"
    # A wrapper that records its pid: the app's whole process group must be gone after.
    command = shlex.join(
        [
            sys.executable,
            "-c",
            "import os, sys; open(sys.argv[1], 'w').write(str(os.getpid()));"
            " os.execv(sys.executable, [sys.executable, '-m', 'opsbook', 'sandbox', 'run'])",
            str(pids),
        ]
    )
    app = AppRun(parse_command(command), HEALTH, timeout=60.0)
    result = _check(app, pg_url)
    assert result.ok, result.saw
    assert result.saw.endswith('200 {"status":"ok"}')
    assert not process_alive(int(pids.read_text()))


def test_a_command_that_exits_at_once_fails_naming_it(pg_url: str) -> None:
    command = shlex.join([sys.executable, "-c", "print('no database here'); raise SystemExit(3)"])
    app = AppRun(parse_command(command), HEALTH, timeout=60.0)
    result = _check(app, pg_url)
    assert not result.ok
    assert "the app exited with code 3 before it was healthy" in result.saw
    assert "no database here" in result.saw
    assert "postgresql://" not in result.saw


def test_the_app_sees_only_a_minimal_environment_and_a_uri(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", "production-pw")
    monkeypatch.setenv("PAGERDUTY_TOKEN", "pd-token-123456")
    seen = tmp_path / "env.json"
    command = shlex.join(
        [
            sys.executable,
            "-c",
            "import json, os, sys; open(sys.argv[1], 'w').write(json.dumps(dict(os.environ)));"
            " raise SystemExit(3)",
            str(seen),
        ]
    )
    port, dbname = pg_url.rsplit(":", 1)[1].split("/")
    keywords = f"host=127.0.0.1 port={port} dbname={dbname} user=postgres password='p@ss:/ %\\'x'"
    result = _check(AppRun(parse_command(command), HEALTH, timeout=60.0), keywords)
    assert not result.ok
    env = json.loads(seen.read_text())
    assert set(env) <= {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "DATABASE_URL", "PORT"}
    assert env["DATABASE_URL"] == (
        f"postgresql://postgres:p%40ss%3A%2F%20%25%27x@127.0.0.1:{port}/{dbname}"
    )
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        assert conn.execute("select current_database()").fetchone() == (dbname,)
    assert "p@ss" not in result.saw and "p%40ss" not in result.saw


def test_a_socket_folder_goes_into_the_uris_query() -> None:
    uri = as_uri("host='/run/pg sock' port=5433 dbname=a&b user=u sslmode=require")
    assert uri == "postgresql://u@:5433/a%26b?sslmode=require&host=%2Frun%2Fpg%20sock"


@pytest.mark.parametrize(
    "command",
    ["; touch {marker}", "$(touch {marker})", "`touch {marker}`", "touchx && touch {marker}"],
)
def test_a_hostile_command_runs_nothing_through_a_shell(
    command: str, pg_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    app = AppRun(parse_command(command.format(marker=marker)), HEALTH, timeout=5.0)
    result = _check(app, pg_url)
    assert not result.ok and "did not start" in result.saw
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "1 to 4096 characters"),
        ("x" * 5000, "1 to 4096 characters"),
        ("run\x00me", "holds a NUL"),
        ("run 'me", "No closing quotation"),
    ],
)
def test_a_bad_command_is_refused(text: str, said: str) -> None:
    with pytest.raises(BackupError, match=said):
        parse_command(text)


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "http://", "http://h:99999/", "http://a\x1b[31m/", "ftp://h/"],
)
def test_a_bad_app_url_is_refused(url: str) -> None:
    with pytest.raises(BackupError, match="app URL"):
        check_url(url)
