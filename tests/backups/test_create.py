"""`backup create` on a real server: the manifest's counts and checksums are those of the
rows that come back, even while the app inserts during the backup; every file is hashed;
hostile table names are data; bad input changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
import zstandard
from psycopg import sql

from opsbook.backups import files
from opsbook.backups.snapshot import Snapshot
from opsbook.postgres.cluster import TempCluster
from tests.backups.conftest import Backups, restore, write_config
from tests.conftest import wait_for
from tests.postgres.test_archive import Writer  # the app, inserting while we work


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(table)))
        return int((row.fetchone() or (0,))[0])


@pytest.mark.slow
def test_counts_and_checksums_are_what_comes_back_while_the_app_writes(
    tmp_path: Path, sandbox_db: str, pg_cluster: TempCluster, backups: Backups
) -> None:
    config = write_config(tmp_path, sandbox_db)
    backups = Backups(config, backups.folder, backups.clock)
    with Writer(sandbox_db) as writer:
        # wait for the app to be writing before the snapshot is taken
        wait_for(lambda: writer.inserted >= 20 or bool(writer.errors))
        created = backups.json("create", "--checksums", "--label", "nightly")
        during = writer.inserted
    assert writer.errors == []
    assert writer.inserted > during - 1 and during >= 20
    manifest = created["manifest"]
    assert created["state"] == "complete" and created["label"] == "nightly"
    folder = Path(created["path"])
    assert json.loads((folder / files.MANIFEST).read_text()) == manifest
    for stored in manifest["files"]:
        assert files.sha256(folder / stored["path"]) == stored["sha256"]
    assert {f["codec"] for f in manifest["files"] if f["path"].endswith(".zst")} == {"zstd"}

    restored = restore(pg_cluster, folder, f"{Path(sandbox_db).name}_restored")
    again = Snapshot(restored, lock_wait_ms=1000)
    try:
        recount = again.count(again.tables(), checksums=True, max_rows=10**9)
    finally:
        again.close()
    expected = {(t["schema"], t["name"]): (t["rows"], t["checksum"]) for t in manifest["tables"]}
    assert {(c.schema, c.name): (c.rows, c.checksum) for c in recount} == expected
    # The app went on writing after the snapshot: the source has more than the backup.
    attempts = expected[("public", "scenario_attempts")][0]
    assert _count(sandbox_db, "scenario_attempts") > attempts
    assert created["rows"] == sum(rows for rows, _ in expected.values())
    pg_cluster.drop_database(f"{Path(sandbox_db).name}_restored")


HOSTILE = [
    "'; rm -rf /tmp/opsbook-pwned; '",
    "$(touch /tmp/opsbook-pwned)",
    "[/x][bold red]boom",
    'a "quoted" name',
    "escape \x1b[31m red",
    "таблица ✓",
]


def test_hostile_table_names_are_backed_up_counted_and_shown_escaped(
    backups: Backups, pg_url: str
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for rows, name in enumerate(HOSTILE, start=1):
            table = sql.Identifier(name)
            conn.execute(sql.SQL("create table {} (id int primary key, v text)").format(table))
            conn.execute(
                sql.SQL("insert into {} select g, %s from generate_series(1, %s) g").format(table),
                (name, rows),
            )
    created = backups.json("create", "--checksums", "--label", "$(id) [/x]")
    tables = {t["name"]: t for t in created["manifest"]["tables"]}
    assert {name: tables[name]["rows"] for name in HOSTILE} == {
        name: rows for rows, name in enumerate(HOSTILE, start=1)
    }
    assert all(tables[name]["checksum"] for name in HOSTILE)
    assert not Path("/tmp/opsbook-pwned").exists()
    shown = backups.run("list")
    assert shown.exit_code == 0 and "$(id) [/x]" in shown.stdout
    assert "\x1b" not in backups.run("list", "--all").stdout


def test_a_label_with_a_control_character_changes_nothing(backups: Backups) -> None:
    for label in ["bad\x1b[2Jlabel", "two\nlines", "x" * 201, " "]:
        result = backups.run("create", "--label", label)
        assert result.exit_code == 2, result.output
        assert "label" in result.stderr and "nothing was changed" in result.stderr
        assert "\x1b" not in result.stderr
    assert not backups.folder.exists() or list(backups.folder.iterdir()) == []
    assert backups.json("list", "--all") == []


def test_a_folder_that_cannot_be_written_changes_nothing(tmp_path: Path, pg_url: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = write_config(tmp_path, pg_url)
    config.write_text(config.read_text().replace(str(tmp_path / "backups"), str(blocker / "b")))
    from opsbook.clock import FrozenClock

    backups = Backups(config, blocker / "b", FrozenClock())
    result = backups.run("create")
    assert result.exit_code == 2
    assert "backups.dir" in result.stderr and "cannot be written" in result.stderr
    assert backups.json("list", "--all") == []


def test_an_unreachable_database_changes_nothing(backups: Backups) -> None:
    text = backups.config.read_text()
    url = next(line.split("url: ")[1] for line in text.splitlines() if "postgresql" in line)
    port = url.split("@")[1].split("/")[0].split(":")[1]
    backups.config.write_text(text.replace(f":{port}/", ":1/"))
    result = backups.run("create")
    assert result.exit_code == 2, result.output
    assert "cannot connect to the target database" in result.stderr
    assert "nothing was changed" in result.stderr
    assert not backups.folder.exists() or list(backups.folder.iterdir()) == []
    assert backups.json("list", "--all") == []


def test_no_fitting_pg_dump_names_the_version_and_the_package(
    tmp_path: Path, pg_url: str, backups: Backups
) -> None:
    old = tmp_path / "old-bin"
    old.mkdir()
    fake = old / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 11.22'\n")
    fake.chmod(0o755)
    backups.config.write_text(backups.config.read_text() + f"  bindir: {old}\n")
    result = backups.run("create")
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert "a pg_dump 15 or newer is needed" in message
    assert "11.22" in message and "apt install postgresql-client-15" in message
    assert backups.json("list", "--all") == []


def test_the_audit_log_and_the_lock_notice(backups: Backups) -> None:
    result = backups.run("create", "--label", "first")
    assert result.exit_code == 0, result.output
    assert "no lock that blocks reads or writes" in result.stderr
    from typer.testing import CliRunner

    from opsbook.cli import app

    audit = json.loads(
        CliRunner().invoke(app, ["--config", str(backups.config), "audit", "list", "--json"]).stdout
    )
    created = [(a["action"], a["outcome"]) for a in audit if a["action"] == "backup.create"]
    assert created == [("backup.create", "ok"), ("backup.create", "started")]


def test_one_job_dumps_table_after_table_and_every_table_comes_back_whole(
    tmp_path: Path, pg_url: str, pg_cluster: TempCluster, backups: Backups
) -> None:
    """With one job there is no "finished item" line: a newer file closes the older ones
    (compressing.py). Tables of several sizes, each whole after a restore."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for n, rows in enumerate((0, 1, 50_000, 3, 120_000)):
            table = sql.Identifier(f"t{n}")
            conn.execute(sql.SQL("create table {} (id int, v text)").format(table))
            conn.execute(
                sql.SQL(
                    "insert into {} select g, repeat(md5(g::text), 8) from generate_series(1, %s) g"
                ).format(table),
                (rows,),
            )
    config = write_config(tmp_path, pg_url, "  jobs: 1\n")
    created = Backups(config, backups.folder, backups.clock).json("create", "--checksums")
    restored = restore(pg_cluster, Path(created["path"]), "one_job_restored")
    again = Snapshot(restored, lock_wait_ms=1000)
    try:
        recount = again.count(again.tables(), checksums=True, max_rows=10**9)
    finally:
        again.close()
    expected = {(t["name"], t["rows"], t["checksum"]) for t in created["manifest"]["tables"]}
    assert {(c.name, c.rows, c.checksum) for c in recount} == expected
    assert {(name, rows) for name, rows, _ in expected} >= {("t2", 50_000), ("t4", 120_000)}
    pg_cluster.drop_database("one_job_restored")


class _RefusingCompressor:
    """zstd failing part-way (what it says when it runs out of memory): the library's
    boundary, faked; opsbook's own follower runs as it does in production."""

    def __init__(self, level: int = 3, **options: object) -> None:
        self.level = level

    def compressobj(self) -> _RefusingCompressor:
        return self

    def compress(self, data: bytes) -> bytes:
        raise zstandard.ZstdError("zstd compress error: Allocation error : not enough memory")

    def flush(self) -> bytes:
        return b""


def test_a_compression_that_fails_fails_the_backup_with_zstds_words(
    pg_url: str, backups: Backups, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("create table calls as select g as id from generate_series(1, 1000) g")
    monkeypatch.setattr(zstandard, "ZstdCompressor", _RefusingCompressor)
    result = backups.run("create", "--label", "doomed")
    assert result.exit_code == 1, result.output
    message = " ".join(result.stderr.split())
    assert "compressing the dump failed: zstd compress error: Allocation error" in message
    assert "nothing was kept" in message and "Traceback" not in result.output
    listed = backups.json("list", "--all")
    assert [(b["label"], b["state"]) for b in listed] == [("doomed", "failed")]
    assert list(backups.folder.iterdir()) == []  # neither the folder nor its .partial
