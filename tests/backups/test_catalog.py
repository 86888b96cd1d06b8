"""The catalog and retention: list shows complete backups with age, size and duration;
prune is a dry run without --yes, keeps the newest (and the newest verified) whatever the
options say, deletes files and rows, and audits each; a backup killed mid-dump leaves no
complete row and the next one works."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from opsbook.backups.models import Backup
from opsbook.cli import app
from opsbook.store import open_store
from tests.backups.conftest import Backups
from tests.conftest import wait_for

DAY = dt.timedelta(days=1)


def _make(backups: Backups, ages_days: list[int]) -> list[int]:
    """One backup per age, oldest first, made at that many days before the last."""
    ids = []
    for gap in [a - b for a, b in zip(ages_days, [*ages_days[1:], 0], strict=True)]:
        created = backups.json("create", "--label", f"gap {gap}")
        ids.append(created["id"])
        backups.clock.advance(gap * DAY)
    return ids


def test_list_shows_age_size_duration_and_not_verified(backups: Backups) -> None:
    assert backups.json("list") == []
    assert "no backups yet" in backups.run("list").stdout
    [first] = _make(backups, [2])
    [listed] = backups.json("list")
    assert listed["id"] == first and listed["state"] == "complete"
    assert listed["age_seconds"] == 2 * DAY.total_seconds()
    assert listed["size_bytes"] > 0 and listed["seconds"] == 0.0  # the frozen clock
    assert listed["verified_at"] is None
    table = backups.run("list").stdout
    assert "2d" in table and "no" in table


def test_prune_is_a_dry_run_without_yes_then_deletes_files_rows_and_audits(
    backups: Backups,
) -> None:
    old, older_kept, kept, recent, newest = _make(backups, [12, 9, 6, 3, 0])
    listed = {b["id"]: Path(b["path"]) for b in backups.json("list")}
    dry = backups.run("prune", "--keep-days", "7", "--keep-min", "2")
    assert dry.exit_code == 0, dry.output
    assert "dry run: pass --yes" in dry.stderr
    assert f"delete backup {old} (gap 3): 12d old, past 7 days" in dry.stdout
    assert f"keep   backup {newest} (gap 0): the newest complete backup" in dry.stdout
    assert len(backups.json("list")) == 5 and all(p.exists() for p in listed.values())

    plan = backups.json("prune", "--keep-days", "7", "--keep-min", "2")
    assert plan["dry_run"] and [d["id"] for d in plan["delete"]] == [older_kept, old]

    done = backups.json("prune", "--keep-days", "7", "--keep-min", "2", "--yes")
    assert not done["dry_run"] and sorted(done["deleted"]) == sorted([old, older_kept])
    assert [b["id"] for b in backups.json("list")] == [newest, recent, kept]
    assert not listed[old].exists() and not listed[older_kept].exists()
    assert listed[kept].exists()
    audit = json.loads(
        CliRunner().invoke(app, ["--config", str(backups.config), "audit", "list", "--json"]).stdout
    )
    pruned = sorted(a["details"]["backup"] for a in audit if a["action"] == "backup.prune")
    assert pruned == sorted([old, older_kept])


def test_prune_never_deletes_the_newest_nor_the_newest_verified(backups: Backups) -> None:
    verified, _middle, newest = _make(backups, [30, 20, 10])
    store = open_store(f"sqlite:///{backups.config.parent / 'opsbook.db'}")
    with store.session() as session:  # what `backup verify` (issue #15 item 3) will write
        session.execute(
            update(Backup).where(Backup.id == verified).values(verified_at=backups.clock.now())
        )
    store.close()
    done = backups.json("prune", "--keep-days", "0", "--keep-min", "0", "--yes")
    assert [b["id"] for b in backups.json("list")] == [newest, verified]
    assert {k["id"]: k["reason"] for k in done["keep"]} == {
        newest: "the newest complete backup",
        verified: "the newest verified backup",
    }


@pytest.mark.parametrize(
    "args", [["--keep-days", "-1"], ["--keep-days", "10" * 30], ["--keep-min", "-3"]]
)
def test_bad_retention_options_change_nothing(backups: Backups, args: list[str]) -> None:
    [only] = _make(backups, [40])
    backups.clock.advance(40 * DAY)
    result = backups.run("prune", *args, "--yes")
    assert result.exit_code == 2, result.output
    assert [b["id"] for b in backups.json("list")] == [only]


@pytest.mark.slow
def test_sigkill_mid_dump_leaves_nothing_complete_and_the_next_backup_works(
    backups: Backups, pg_url: str
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("create table busy (id int primary key)")
        conn.execute("insert into busy select generate_series(1, 1000)")
    # A DDL statement holds the table: pg_dump is started and waits for its lock, so the
    # kill lands mid-dump every time (not before it, not after it).
    holder = psycopg.connect(pg_url)
    holder.execute("lock table busy in access exclusive mode")
    child = subprocess.Popen(
        [sys.executable, "-m", "opsbook", "--config", str(backups.config), "backup", "create"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _pg_dump_waiting(pg_url), timeout=60)
        assert list(backups.folder.glob("*.partial"))
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        holder.rollback()
    wait_for(lambda: not _pg_dump_waiting(pg_url))  # pg_dump died with opsbook
    holder.close()

    assert backups.json("list") == []
    [abandoned] = backups.json("list", "--all")
    assert abandoned["state"] == "abandoned"
    created = backups.json("create")
    assert [b["id"] for b in backups.json("list")] == [created["id"]]
    pruned = backups.json("prune", "--yes")
    assert pruned["deleted"] == [abandoned["id"]]
    assert not list(backups.folder.glob("*.partial"))
    assert [b["id"] for b in backups.json("list", "--all")] == [created["id"]]


def _pg_dump_waiting(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity where application_name = 'pg_dump'"
        ).fetchone()
    return bool(row and row[0])
