from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.store import audit, open_store
from opsbook.store.migrate import head_revision

runner = CliRunner()


def test_store_upgrade_then_status(fresh_config_file: Path) -> None:
    first = runner.invoke(app, ["--config", str(fresh_config_file), "store", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"migrated empty -> {head_revision()}" in first.output
    again = runner.invoke(app, ["--config", str(fresh_config_file), "store", "upgrade"])
    assert f"already at revision {head_revision()}" in again.output
    status = runner.invoke(app, ["--config", str(fresh_config_file), "store", "status", "--json"])
    data = json.loads(status.output)
    assert (data["revision"], data["pending"]) == (head_revision(), False)


def test_status_shows_pending_before_first_use(fresh_config_file: Path) -> None:
    result = runner.invoke(app, ["--config", str(fresh_config_file), "store", "status", "--json"])
    assert json.loads(result.output)["pending"] is True


def test_audit_list(config_file: Path, store_url: str) -> None:
    store = open_store(store_url)
    with store.session() as session:
        audit.record(session, action="db.kill", target="pid 1", outcome="ok", actor="alice")
    store.close()
    result = runner.invoke(app, ["--config", str(config_file), "audit", "list", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["actor"], row["action"], row["target"]) == ("alice", "db.kill", "pid 1")
    table = runner.invoke(app, ["--config", str(config_file), "audit", "list"])
    assert "db.kill" in table.output and "alice" in table.output
    assert json.loads(result.output)[0]["unfinished"] is False


def test_relative_sqlite_store_lives_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "ops").mkdir()
    path = tmp_path / "ops" / "opsbook.yaml"
    path.write_text("store:\n  url: sqlite:///state/opsbook.db\n")
    result = runner.invoke(app, ["--config", str(path), "store", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ops" / "state" / "opsbook.db").is_file()


def test_a_store_url_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "opsbook.yaml"
    path.write_text("store:\n  url: mysql://db/opsbook\n")
    result = runner.invoke(app, ["--config", str(path), "audit", "list"])
    assert result.exit_code == 2
    assert "runs on sqlite:/// or postgresql://" in result.output


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("sqlite://relative.db", "a SQLite URL has three slashes"),
        ("mysql://u@h/db", "store.url uses 'mysql'"),
    ],
)
@pytest.mark.parametrize(
    "command", [("store", "status"), ("store", "upgrade"), ("incident", "list")]
)
def test_a_store_url_that_names_no_store_is_one_line(
    tmp_path: Path, url: str, said: str, command: tuple[str, ...]
) -> None:
    config = tmp_path / "opsbook.yaml"
    config.write_text(f"store:\n  url: {url}\n")
    result = runner.invoke(app, ["--config", str(config), *command])
    assert result.exit_code == 2, result.output
    assert said in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.glob("*.db"))
