"""A config with routines over a small checklist runbook, a store, and the CLI on a clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import Config, load_config
from opsbook.context import AppContext
from opsbook.registry import default_registry
from opsbook.routines import service
from opsbook.store import Store, open_store

CHECKLIST = """\
name: checklist
title: A checklist
steps:
  - id: look
    title: Look at the dashboard
    manual: "Look at the dashboard."
    blocking: false  # a checklist: both items are due at once
  - id: disk
    title: Note the disk usage
    manual: "Note the disk usage."
"""


def write_config(folder: Path, maintenance: str, *, store_url: str | None = None) -> Path:
    runbooks = folder / "runbooks"
    runbooks.mkdir(exist_ok=True)
    (runbooks / "checklist.yaml").write_text(CHECKLIST)
    path = folder / "opsbook.yaml"
    url = store_url or f"sqlite:///{folder / 'opsbook.db'}"
    path.write_text(f"store:\n  url: {url}\nrunbooks:\n  paths: [runbooks]\n{maintenance}")
    return path


WEEKLY = """\
maintenance:
  routines:
    weekly: {runbook: checklist, schedule: weekly monday 09:00, timezone: Europe/Berlin}
  keys:
    stripe: {every: 90d}
    vapi: {}
"""


@dataclass
class Setup:
    path: Path
    config: Config
    store: Store
    clock: FrozenClock

    def tick(self) -> list[service.Started]:
        return service.tick(self.store, self.config, default_registry(), clock=self.clock)

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(
            app, ["--config", str(self.path), *args], obj=AppContext(clock=self.clock)
        )

    def cli_json(self, *args: str) -> Any:
        result = self.cli(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


def make_setup(folder: Path, maintenance: str, clock: FrozenClock) -> Iterator[Setup]:
    path = write_config(folder, maintenance)
    config = load_config(path)
    store = open_store(config.store.url.reveal(), base_dir=folder)
    yield Setup(path, config, store, clock)
    store.close()


@pytest.fixture
def weekly(tmp_path: Path, clock: FrozenClock) -> Iterator[Setup]:
    yield from make_setup(tmp_path, WEEKLY, clock)
