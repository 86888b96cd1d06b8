"""`backup verify` on a real server: a good backup passes and is marked verified (deep or
not); a flipped byte, a missing file, a manifest cut short and a table whose rows changed
after the backup are each found, named, exit 1, and leave the backup unverified; the
scratch database is dropped on success, failure and Ctrl-C; no fitting pg_restore and a
hostile id change nothing."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import zstandard
from sqlalchemy import select

from opsbook.backups import files
from opsbook.backups import verify as verifying
from opsbook.backups.create import Progress
from opsbook.backups.models import Backup
from opsbook.config import load_config
from opsbook.store import Store, open_store
from opsbook.store.audit import entries
from tests.backups.conftest import Backups


def _store(backups: Backups) -> Store:
    return open_store(f"sqlite:///{backups.config.parent / 'opsbook.db'}")


def _row(backups: Backups, backup_id: int) -> Backup:
    store = _store(backups)
    try:
        with store.reading() as session:
            row = session.scalars(select(Backup).where(Backup.id == backup_id)).one()
            session.expunge(row)
            return row
    finally:
        store.close()


def _scratch_left(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute(
            "select datname from pg_database where datname like 'opsbook_verify_%'"
        )
        return [row[0] for row in found]


def _data_file(folder: Path, holding: bytes) -> Path:
    """The compressed table file whose rows hold `holding`."""
    for path in sorted((folder / files.DUMP).glob("*.dat.zst")):
        if holding in zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes()):
            return path
    raise AssertionError(f"no data file holds {holding!r}")


def _rewrite(
    backups: Backups, created: dict[str, Any], path: Path, change: Callable[[bytes], bytes]
) -> None:
    """Change a table file's rows and make every checksum agree with the change: a
    backup written wrong but hashed as written, which only a restore can catch."""
    raw = change(zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes()))
    path.write_bytes(zstandard.ZstdCompressor(write_content_size=True).compress(raw))
    folder = Path(created["path"])
    manifest = json.loads((folder / files.MANIFEST).read_text())
    relative = path.relative_to(folder).as_posix()
    for entry in manifest["files"]:
        if entry["path"] == relative:
            entry.update(sha256=files.sha256(path), bytes=path.stat().st_size, raw_bytes=len(raw))
    digest = files.write_manifest(folder, manifest)
    store = _store(backups)
    with store.session() as session:
        row = session.get(Backup, created["id"])
        assert row is not None
        row.manifest_sha256 = digest
    store.close()


def _one_more_call(raw: bytes) -> bytes:
    """The calls table's first row again under a new id."""
    first = raw.split(b"\n", 1)[0]
    return b"999999" + first[first.index(b"\t") :] + b"\n" + raw


def test_a_good_backup_verifies_and_is_marked(backups: Backups, rich_db: str) -> None:
    created = backups.json("create", "--checksums")
    backups.clock.advance(dt.timedelta(minutes=5))
    verified = backups.json("verify", str(created["id"]))
    assert verified["ok"] and verified["differences"] == []
    assert verified["files"] == len(created["manifest"]["files"]) and verified["entries"] > 10
    row = _row(backups, created["id"])
    assert row.verified_at == backups.clock.now() and not row.verified_deep
    [listed] = backups.json("list")
    assert listed["verified_at"] is not None
    shown = backups.run("verify", f"#{created['id']}")
    assert shown.exit_code == 0 and "verified" in shown.stdout
    store = _store(backups)
    with store.reading() as session:
        audit = [(e.action, e.outcome) for e in entries(session, action="backup.verify")]
    store.close()
    assert audit[:2] == [("backup.verify", "ok"), ("backup.verify", "started")]


@pytest.mark.slow
def test_deep_verify_restores_into_a_scratch_database_and_drops_it(
    backups: Backups, rich_db: str
) -> None:
    created = backups.json("create", "--checksums")
    verified = backups.json("verify", str(created["id"]), "--deep")
    assert verified["ok"], verified["differences"]
    assert verified["tables"] == len(created["manifest"]["tables"]) == 2
    assert verified["scratch"].startswith(f"opsbook_verify_{created['id']}_")
    assert _row(backups, created["id"]).verified_deep
    assert _scratch_left(rich_db) == []
    [listed] = backups.json("list")
    assert listed["verified_deep"] and "(deep)" in backups.run("list").stdout


def test_a_flipped_byte_is_named_and_unverifies(backups: Backups, rich_db: str) -> None:
    created = backups.json("create")
    assert backups.json("verify", str(created["id"]))["ok"]
    path = _data_file(Path(created["path"]), b"call 1\t")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    found = backups.json("verify", str(created["id"]), code=1)
    [difference] = found["differences"]
    relative = path.relative_to(Path(created["path"])).as_posix()
    assert difference["kind"] == "file" and difference["name"] == relative
    assert (
        difference["expected"].startswith("sha256 ")
        and difference["found"] != difference["expected"]
    )
    shown = backups.run("verify", str(created["id"]))
    assert shown.exit_code == 1 and f"file {relative}: expected sha256" in shown.stdout
    assert _row(backups, created["id"]).verified_at is None


def test_a_missing_file_is_named(backups: Backups, rich_db: str) -> None:
    created = backups.json("create")
    path = _data_file(Path(created["path"]), b"acme")
    path.unlink()
    found = backups.json("verify", str(created["id"]), code=1)
    relative = path.relative_to(Path(created["path"])).as_posix()
    assert [(d["name"], d["found"]) for d in found["differences"]] == [(relative, "no file")]
    assert _row(backups, created["id"]).verified_at is None


def test_a_truncated_manifest_is_named(backups: Backups, rich_db: str) -> None:
    created = backups.json("create")
    manifest = Path(created["path"]) / files.MANIFEST
    manifest.write_bytes(manifest.read_bytes()[:200])
    result = backups.run("verify", str(created["id"]))
    assert result.exit_code == 1, result.output
    assert f"manifest {manifest}: expected sha256" in " ".join(result.stdout.split())
    found = backups.json("verify", str(created["id"]), code=1)
    assert [d["kind"] for d in found["differences"]] == ["manifest"]
    assert _row(backups, created["id"]).verified_at is None


@pytest.mark.slow
def test_rows_changed_after_the_backup_are_found_by_a_deep_verify(
    backups: Backups, rich_db: str
) -> None:
    created = backups.json("create", "--checksums")
    _rewrite(backups, created, _data_file(Path(created["path"]), b"call 1\t"), _one_more_call)
    assert backups.json("verify", str(created["id"]))["ok"]  # every sha256 agrees
    found = backups.json("verify", str(created["id"]), "--deep", code=1)
    assert found["differences"] == [
        {"kind": "table", "name": "public.calls", "expected": "41 rows", "found": "42 rows"}
    ]
    assert _row(backups, created["id"]).verified_at is None
    assert _scratch_left(rich_db) == []


@pytest.mark.slow
def test_the_scratch_database_goes_on_a_failed_restore_and_on_ctrl_c(
    backups: Backups, rich_db: str
) -> None:
    created = backups.json("create")
    config = load_config(backups.config)
    store = _store(backups)
    seen: list[str] = []

    def run(progress: Callable[[Progress], None]) -> verifying.Verified:
        return verifying.verify_backup(
            store=store,
            backup_id=created["id"],
            deep=True,
            server_url=rich_db,
            settings=config.backups,
            work_root=backups.folder,
            actor="alice",
            clock=backups.clock,
            scratch_name=lambda i: f"opsbook_verify_{i}_fixed",
            progress=progress,
        )

    def interrupt(step: Progress) -> None:
        seen.append(step.phase)
        if step.phase == "restoring":
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            run(interrupt)
        assert "restoring" in seen and _scratch_left(rich_db) == []
        # A table file pg_restore cannot load, hashed as written.
        _rewrite(backups, created, _data_file(Path(created["path"]), b"acme"), lambda _: b"x\ty\n")
        failed = run(lambda _: None)
        [difference] = failed.differences
        assert (difference.kind, difference.name) == ("archive", "dump")
        assert "pg_restore exited" in difference.found
        assert failed.scratch == f"opsbook_verify_{created['id']}_fixed"
        assert _scratch_left(rich_db) == []
        assert not list(backups.folder.glob(".restore-*"))  # the working copy is gone too
    finally:
        store.close()


def test_no_fitting_pg_restore_names_the_version_and_the_package(
    backups: Backups, rich_db: str, tmp_path: Path
) -> None:
    created = backups.json("create")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    text = backups.config.read_text()
    backups.config.write_text(text + f"  bindir: {empty}\n")
    missing = backups.run("verify", str(created["id"]))
    assert missing.exit_code == 2, missing.output
    message = " ".join(missing.stderr.split())
    assert "a pg_restore 15 or newer is needed (found: none)" in message
    assert "apt install postgresql-client-15" in message and "nothing was checked" in message

    old = tmp_path / "old-bin"
    old.mkdir()
    (old / "pg_restore").write_text("#!/bin/sh\necho 'pg_restore (PostgreSQL) 11.22'\n")
    (old / "pg_restore").chmod(0o755)
    backups.config.write_text(text + f"  bindir: {old}\n")
    too_old = backups.run("verify", str(created["id"]))
    assert too_old.exit_code == 2 and "11.22" in too_old.stderr
    assert _row(backups, created["id"]).verified_at is None


@pytest.mark.parametrize(
    "given", ["1; rm -rf /tmp/x", "$(id)", "99999999999999999999", "[/x]1", "1\x1b[2J", "0", "#"]
)
def test_a_hostile_backup_id_is_refused(backups: Backups, given: str) -> None:
    result = backups.run("verify", given, "--deep")
    assert result.exit_code == 2, result.output
    assert "is not a backup id" in result.stderr and "\x1b" not in result.stderr


def test_an_unknown_backup_is_refused(backups: Backups) -> None:
    result = backups.run("verify", "42")
    assert result.exit_code == 2 and "no backup 42 in the catalog" in result.stderr
