"""A config pointing at a real database and a backups folder, the CLI run in-process with
the test's clock (and, when a test says so, a person at a terminal), and a restore done by
the package's own recipe (archive.working_copy, then loading.restore_dump: pg_restore -j)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from opsbook.backups import archive, loading
from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.context import AppContext
from opsbook.postgres.cluster import TempCluster, find_bindir


@dataclass
class Backups:
    config: Path
    folder: Path
    clock: FrozenClock

    def run(self, *args: str, typed: str | None = None) -> Result:
        """`opsbook backup ARGS`; with `typed`, at a terminal where that is typed."""
        context = AppContext(clock=self.clock, interactive=typed is not None)
        return CliRunner(env={"COLUMNS": "200"}).invoke(
            app, ["--config", str(self.config), "backup", *args], obj=context, input=typed
        )

    def json(self, *args: str, code: int = 0) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == code, result.output
        return json.loads(result.stdout)


def write_config(tmp_path: Path, database_url: str, extra: str = "") -> Path:
    config = tmp_path / "opsbook.yaml"
    config.write_text(
        f"store:\n  url: sqlite:///{tmp_path / 'opsbook.db'}\n"
        f"database:\n  url: {database_url}\n"
        f"backups:\n  dir: {tmp_path / 'backups'}\n{extra}"
    )
    return config


@pytest.fixture
def backups(
    tmp_path: Path, pg_url: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Backups:
    monkeypatch.setenv("OPSBOOK_ACTOR", "alice")
    return Backups(write_config(tmp_path, pg_url), tmp_path / "backups", clock)


def restore(cluster: TempCluster, backup: Path, name: str) -> str:
    """A new database `name` holding what the backup folder holds."""
    manifest = archive.load_manifest(backup)
    tool = archive.pg_restore(str(find_bindir()), manifest["pg_dump_version"])
    url = cluster.create_database(name)
    with archive.working_copy(backup, backup.parent) as dump:
        loading.restore_dump(tool, dump, url, jobs=2)
    return url
