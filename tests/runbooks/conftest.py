from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from opsbook.cli import app
from opsbook.sandbox.providers import STATUS_PROVIDERS
from tests.conftest import RunningSandbox


class Ops:
    """A responder's terminal, configured against the sandbox and its database."""

    def __init__(self, root: Path, sandbox: RunningSandbox, store_url: str) -> None:
        self.root = root
        self.sandbox = sandbox
        self.books = root / "runbooks"
        self.books.mkdir()
        self.config = root / "opsbook.yaml"
        self.config.write_text(
            f"store:\n  url: {store_url}\n"
            f"app:\n  url: {sandbox.url}\n"
            f"database:\n  url: {sandbox.database_url}\n"
            "runbooks:\n  paths: [runbooks]\n"
            # The providers' status pages the built-ins read: the sandbox's, never the
            # internet's.
            "checks:\n"
            + "".join(
                f"  - {{name: {slug}-status, kind: statuspage, provider: {slug},"
                f" url: '{sandbox.url}/_providers/{slug}'}}\n"
                for slug in STATUS_PROVIDERS
            )
        )
        self.runner = CliRunner()

    def book(self, name: str, text: str) -> None:
        (self.books / f"{name}.yaml").write_text(textwrap.dedent(text))

    def run(self, *args: str) -> Result:
        return self.runner.invoke(app, ["--config", str(self.config), *args])

    def json(self, *args: str, code: int = 0) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == code, result.output
        return json.loads(result.stdout)


@pytest.fixture
def ops(tmp_path: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Ops:
    monkeypatch.setenv("OPSBOOK_ACTOR", "alice")
    return Ops(tmp_path, sandbox, f"sqlite:///{tmp_path / 'opsbook.db'}")
