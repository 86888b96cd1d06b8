"""A desk for deploy tests: the real sandbox on 127.0.0.1, a real SQLite store, and
`opsbook` invoked with the sandbox's own frozen clock, so that a deploy's bake, the
version wait and the watch loop all move on one clock and nothing sleeps for real."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from opsbook.cli import app
from opsbook.context import AppContext
from opsbook.deploy import service
from opsbook.sandbox.client import deploy_call
from opsbook.store import open_store
from tests.conftest import RunningSandbox
from tests.notify.fakes import FakeSlack

NEW = "9b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d"


@dataclass
class Desk:
    sandbox: RunningSandbox
    config: Path
    store_url: str

    def opsbook(self, *args: str) -> Result:
        return CliRunner().invoke(
            app, ["--config", str(self.config), *args], obj=AppContext(clock=self.sandbox.clock)
        )

    def deploy(self, commit: str = NEW, broken: str | None = None) -> None:
        status, data = deploy_call(
            self.sandbox.url, self.sandbox.settings.admin_token, commit, broken
        )
        assert status == 200, data

    def records(self) -> list[service.DeployRow]:
        store = open_store(self.store_url)
        try:
            return service.list_deploys(store=store)
        finally:
            store.close()

    def listed(self) -> list[dict[str, Any]]:
        result = self.opsbook("deploy", "list", "--json")
        assert result.exit_code == 0, result.output
        found: list[dict[str, Any]] = json.loads(result.stdout)
        return found


def write_config(path: Path, store_url: str, app_url: str, extra: str = "") -> Path:
    path.write_text(f"store:\n  url: {store_url}\napp:\n  url: {app_url}\n{extra}")
    return path


@pytest.fixture
def desk(tmp_path: Path, sandbox: RunningSandbox) -> Iterator[Desk]:
    store_url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    config = write_config(tmp_path / "opsbook.yaml", store_url, sandbox.url)
    yield Desk(sandbox, config, store_url)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """A Slack incoming webhook on 127.0.0.1: what #deploys received."""
    fake = FakeSlack()
    yield fake
    fake.stop()
