"""`db migrations apply` and the `db.migrate` runbook action go ahead without --no-backup
once the catalog holds a verified backup of the same database taken within
backups.fresh_for (24 h), and refuse otherwise, saying how to take one."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from opsbook.postgres.cluster import TempCluster
from tests.backups.conftest import Backups

REFUSAL = (
    "no verified backup in the last 24 h: opsbook backup create && opsbook backup verify ID,"
    " or pass --no-backup"
)


def _apply(backups: Backups, folder: Path, code: int) -> str:
    result = backups.opsbook("db", "migrations", "apply", "--dir", str(folder), "--yes", "--json")
    assert result.exit_code == code, result.output
    return result.stdout if code == 0 else " ".join(result.stderr.split())


def _step(backups: Backups, folder: Path) -> dict[str, Any]:
    """The `db.migrate` action run as a one-step runbook."""
    books = backups.config.parent / "books"
    books.mkdir(exist_ok=True)
    step = {"id": "push", "title": "Push", "uses": "db.migrate", "with": {"dir": str(folder)}}
    book = {"name": "push", "title": "Push", "steps": [step]}
    (books / "push.yaml").write_text(json.dumps(book))
    result = backups.opsbook("runbook", "run", "push", "--yes", "--json")
    found: dict[str, Any] = json.loads(result.stdout)["steps"][0]
    return found


def test_a_fresh_verified_backup_of_the_same_database_opens_the_gate(
    backups: Backups, pg_url: str, pg_cluster: TempCluster, tmp_path: Path
) -> None:
    backups.config.write_text(backups.config.read_text() + "runbooks:\n  paths: [books]\n")
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20250101000000_init.sql").write_text("create table notes (id int);\n")
    assert REFUSAL in _apply(backups, folder, 2)

    created = backups.json("create")
    assert REFUSAL in _apply(backups, folder, 2)  # not verified yet
    text = backups.config.read_text()
    other = pg_cluster.create_database("gate_other")
    try:
        backups.config.write_text(text.replace(pg_url, other))
        elsewhere = backups.json("create")
        assert backups.json("verify", str(elsewhere["id"]))["ok"]
        backups.config.write_text(text)
        assert REFUSAL in _apply(backups, folder, 2)  # a backup of another database
    finally:
        backups.config.write_text(text)
        pg_cluster.drop_database("gate_other")

    assert backups.json("verify", str(created["id"]))["ok"]
    backups.clock.advance(dt.timedelta(hours=23))
    assert json.loads(_apply(backups, folder, 0))["applied"] == ["20250101000000_init"]
    audit = json.loads(backups.opsbook("audit", "list", "--json").stdout)
    [migrated] = [a for a in audit if a["action"] == "db.migrate" and a["outcome"] == "ok"]
    assert migrated["details"]["backup"] == created["id"]

    (folder / "20250201000000_more.sql").write_text("create table more (id int);\n")
    step = _step(backups, folder)
    assert step["status"] == "succeeded", step
    assert step["output"]["backup"] == created["id"]

    (folder / "20250301000000_last.sql").write_text("create table last (id int);\n")
    backups.clock.advance(dt.timedelta(hours=2))  # 25 h after the backup
    assert REFUSAL in _apply(backups, folder, 2)
    late = _step(backups, folder)
    assert late["status"] == "failed"
    assert "no verified backup in the last 24 h" in late["error"]
    assert late["error"].endswith("or run with no_backup: true")
