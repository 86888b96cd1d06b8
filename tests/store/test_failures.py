"""A state store that cannot be used is one line on stderr, exit 1, whatever the command.

Unreachable, impossible to open, read-only or full: the line says which store (password
masked), what its database said, and that nothing was changed. The read-only and full
stores are real SQLite refusing (PRAGMA query_only, PRAGMA max_page_count set on every
connection it opens), which holds even for root; a chmod'ed folder is tried too when not
running as root.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from sqlalchemy import event
from sqlalchemy.pool import Pool
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.context import AppContext

runner = CliRunner()

COMMANDS = [
    ["incident", "list"],
    ["incident", "open", "--sev", "P2", "--title", "Slow pages"],
    ["status"],
    ["audit", "list"],
]


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text(f"store:\n  url: {url}\n")
    return path


def _fails_in_one_line(config: Path, args: list[str], *, store: str, reason: str) -> None:
    result = runner.invoke(app, ["--config", str(config), *args])
    assert result.exit_code == 1, (args, result.output)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    line = result.stderr.strip()
    assert line.startswith(f"error: opsbook's state store (store.url) {store}: "), line
    assert reason in line
    assert line.endswith("; nothing was changed")


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("args", COMMANDS)
def test_an_unreachable_postgresql_store(tmp_path: Path, closed_port: int, args: list[str]) -> None:
    url = f"postgresql://opsbook:s3cret-pw@127.0.0.1:{closed_port}/opsbook"
    config = _config(tmp_path, url)
    _fails_in_one_line(
        config,
        args,
        store=f"postgresql://opsbook:***@127.0.0.1:{closed_port}/opsbook",
        reason="Connection refused",
    )
    assert "s3cret-pw" not in runner.invoke(app, ["--config", str(config), *args]).output


@pytest.mark.parametrize("args", COMMANDS)
def test_a_sqlite_store_that_is_a_folder(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "state").mkdir()
    config = _config(tmp_path, "sqlite:///state")
    _fails_in_one_line(
        config, args, store=f"sqlite:///{tmp_path}/state", reason="unable to open database file"
    )


@pytest.mark.parametrize("args", COMMANDS)
def test_a_sqlite_store_inside_a_file(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "notes.txt").write_text("not a folder\n")
    config = _config(tmp_path, "sqlite:///notes.txt/state/opsbook.db")
    _fails_in_one_line(
        config,
        args,
        store=f"sqlite:///{tmp_path}/notes.txt/state/opsbook.db",
        reason=f"cannot create the folder {tmp_path}/notes.txt/state: Not a directory",
    )


@pytest.mark.parametrize("args", COMMANDS)
def test_a_sqlite_store_that_is_not_a_database(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "opsbook.db").write_text("these are my notes\n" * 100)
    config = _config(tmp_path, "sqlite:///opsbook.db")
    _fails_in_one_line(
        config, args, store=f"sqlite:///{tmp_path}/opsbook.db", reason="file is not a database"
    )


@pytest.mark.parametrize("existing", [True, False], ids=["existing-store", "new-store"])
@pytest.mark.parametrize("args", COMMANDS)
def test_a_sqlite_store_in_a_read_only_folder(
    tmp_path: Path, args: list[str], existing: bool
) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    config = _config(tmp_path, "sqlite:///state/opsbook.db")
    if existing:
        assert runner.invoke(app, ["--config", str(config), *COMMANDS[1]]).exit_code == 0
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this user writes through read-only folders (root with CAP_DAC_OVERRIDE)")
        _fails_in_one_line(
            config,
            args,
            store=f"sqlite:///{folder}/opsbook.db",
            reason=(
                "attempt to write a readonly database"
                if existing
                else f"cannot write {folder}/opsbook.db.migrate.lock: Permission denied"
            ),
        )
    finally:
        folder.chmod(0o755)


@pytest.fixture
def sqlite_pragma() -> Iterator[Callable[[str], None]]:
    """Run a PRAGMA on every SQLite connection opened from here on, as a disk or a
    mount would impose it; removed after the test."""
    listeners: list[Callable[[Any, Any], None]] = []

    def install(pragma: str) -> None:
        def apply(dbapi_connection: Any, _record: Any) -> None:
            if isinstance(dbapi_connection, sqlite3.Connection):
                dbapi_connection.execute(pragma)

        event.listen(Pool, "connect", apply)
        listeners.append(apply)

    yield install
    for apply in listeners:
        event.remove(Pool, "connect", apply)


@pytest.mark.parametrize("args", COMMANDS)
def test_a_read_only_sqlite_store(
    tmp_path: Path, sqlite_pragma: Callable[[str], None], args: list[str]
) -> None:
    config = _config(tmp_path, "sqlite:///opsbook.db")
    sqlite_pragma("PRAGMA query_only = 1")
    _fails_in_one_line(
        config,
        args,
        store=f"sqlite:///{tmp_path}/opsbook.db",
        reason="attempt to write a readonly database",
    )


@pytest.mark.parametrize("args", COMMANDS)
def test_a_full_sqlite_store(
    tmp_path: Path, sqlite_pragma: Callable[[str], None], args: list[str]
) -> None:
    config = _config(tmp_path, "sqlite:///opsbook.db")
    sqlite_pragma("PRAGMA max_page_count = 1")  # never below its size: it cannot grow
    _fails_in_one_line(
        config,
        args,
        store=f"sqlite:///{tmp_path}/opsbook.db",
        reason="database or disk is full",
    )


def test_a_full_store_keeps_what_it_had_and_reads_on(
    tmp_path: Path, sqlite_pragma: Callable[[str], None]
) -> None:
    config = _config(tmp_path, "sqlite:///opsbook.db")
    first = runner.invoke(app, ["--config", str(config), *COMMANDS[1]])
    assert first.exit_code == 0, first.output
    sqlite_pragma("PRAGMA max_page_count = 1")
    long_title = ["incident", "open", "--sev", "P1", "--title", "x" * 100_000]
    _fails_in_one_line(
        config,
        long_title,
        store=f"sqlite:///{tmp_path}/opsbook.db",
        reason="database or disk is full",
    )
    listed = runner.invoke(app, ["--config", str(config), "incident", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [i["title"] for i in json.loads(listed.stdout)] == ["Slow pages"]


def test_a_failure_after_earlier_changes_says_they_were_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = AppContext(config_option=_config(tmp_path, "sqlite:///opsbook.db"))
    with context.store().session() as session:
        session.execute(sa.text("select 1"))
    failed = sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error"))
    with pytest.raises(typer.Exit) as caught:
        context.store_failed(failed)
    context.close()
    assert caught.value.exit_code == 1
    assert capsys.readouterr().err.strip() == (
        f"error: opsbook's state store (store.url) sqlite:///{tmp_path}/opsbook.db: disk I/O"
        " error; the change under way was not saved (earlier ones were)"
    )
