"""A config pointing at a real database and a backups folder, the CLI run in-process with
the test's clock, and a restore done the way item 3/4 of issue #15 will do it (zstd files
back into place, then pg_restore -j), so a test can compare what comes back."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zstandard
from typer.testing import CliRunner, Result

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.context import AppContext
from opsbook.postgres.cluster import TempCluster, find_bindir


@dataclass
class Backups:
    config: Path
    folder: Path
    clock: FrozenClock

    def run(self, *args: str) -> Result:
        return CliRunner(env={"COLUMNS": "200"}).invoke(
            app, ["--config", str(self.config), "backup", *args], obj=AppContext(clock=self.clock)
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
    dump = backup / "dump"
    for packed in dump.glob("*.zst"):
        with packed.open("rb") as src, packed.with_suffix("").open("wb") as dst:
            zstandard.ZstdDecompressor().copy_stream(src, dst)
    url = cluster.create_database(name)
    done = subprocess.run(
        [str(find_bindir() / "pg_restore"), "-j", "2", "-d", url, str(dump)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return url
