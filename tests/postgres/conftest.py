"""Real sessions on a real server: idle, idle in transaction, sleeping, waiting on a lock."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from typer.testing import CliRunner, Result

from opsbook.cli import app
from tests.conftest import wait_for


def as_role(url: str, role: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://{quote(role, safe='')}@")


class Sessions:
    """Opens real sessions and closes whatever is left at the end of the test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conns: list[psycopg.Connection[Any]] = []
        self.threads: list[threading.Thread] = []

    def open(
        self, *, role: str | None = None, application: str = "app", autocommit: bool = True
    ) -> psycopg.Connection[Any]:
        url = as_role(self.url, role) if role else self.url
        conn = psycopg.connect(url, autocommit=autocommit, application_name=application)
        self.conns.append(conn)
        return conn

    def pid(self, conn: psycopg.Connection[Any]) -> int:
        return int(conn.info.backend_pid)

    def in_background(self, conn: psycopg.Connection[Any], query: str) -> None:
        def run() -> None:
            # Cancelled or terminated by the test: exactly what it checks for.
            with contextlib.suppress(psycopg.Error):
                conn.execute(query)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)

    def state(self, pid: int) -> str | None:
        with psycopg.connect(self.url, application_name="tests") as conn:
            row = conn.execute(
                "select state from pg_stat_activity where pid = %s", (pid,)
            ).fetchone()
        return row[0] if row else None

    def wait_state(self, pid: int, state: str | None) -> None:
        wait_for(lambda: self.state(pid) == state)

    def close(self) -> None:
        for conn in self.conns:
            if not conn.closed:
                conn.cancel_safe()
                conn.close()
        for thread in self.threads:
            thread.join(timeout=10)


@pytest.fixture
def sessions(pg_url: str) -> Iterator[Sessions]:
    opened = Sessions(pg_url)
    yield opened
    opened.close()


class Db:
    def __init__(self, config: Path) -> None:
        self.config, self.runner = config, CliRunner()

    def run(self, *args: str) -> Result:
        return self.runner.invoke(app, ["--config", str(self.config), "db", *args])

    def json(self, *args: str, code: int = 0) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == code, result.output
        return json.loads(result.stdout)


@pytest.fixture
def db(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Db:
    monkeypatch.setenv("OPSBOOK_ACTOR", "alice")
    config = tmp_path / "opsbook.yaml"
    config.write_text(
        f"store:\n  url: sqlite:///{tmp_path / 'opsbook.db'}\ndatabase:\n  url: {pg_url}\n"
    )
    return Db(config)
