"""`backup verify`: prove a backup is what its manifest says, and with `deep`, that it
restores to the rows it was taken of.

Shallow: the manifest's sha256 against the catalog's (a manifest cut short or edited is
named as such), every file's sha256 against the manifest, and pg_dump's table of contents
read back by pg_restore. Deep, only when those hold: a restore into a scratch database on
the target's server (`opsbook_verify_<id>_<random>`, dropped afterwards whatever happens)
and each table's rows, and content checksum when the backup recorded one, against the
manifest. A restore also catches what no sha256 can: a backup whose files were written
wrong but hashed as written.

A pass sets `verified_at` (and `verified_deep`); a difference clears them, so a backup
once verified and since damaged no longer counts for the `backup` check or the
migrations gate.

A files backup (files_backup) is verified by its manifest against the catalog and every
object it references hashed again; `deep` adds nothing to that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsbook.backups import archive, compare, files, files_store, loading, pgdump, split
from opsbook.backups.archive import Difference
from opsbook.backups.create import Progress
from opsbook.backups.errors import BackupError, BackupFailed
from opsbook.backups.models import Backup
from opsbook.clock import Clock
from opsbook.config.backups import BackupsConfig
from opsbook.store import Store
from opsbook.store.audit import audited

TOC = "dump/toc.dat"


@dataclass
class Verified:
    """What a verify checked and what it found different."""

    backup: int
    database: str
    deep: bool
    files: int = 0
    entries: int = 0  # the archive's table of contents
    tables: int = 0  # compared after the deep restore
    scratch: str | None = None
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def complete_backup(store: Store, backup_id: int) -> Backup:
    """The catalog row of a complete backup; BackupError when there is none by that id."""
    with store.reading() as session:
        row = session.get(Backup, backup_id)
        if row is None:
            raise BackupError(f"no backup {backup_id} in the catalog: opsbook backup list")
        if row.state != "complete":
            raise BackupError(f"backup {backup_id} is {row.state}, not complete")
        session.expunge(row)
    return row


def verify_backup(
    *,
    store: Store,
    backup_id: int,
    deep: bool,
    server_url: str,
    settings: BackupsConfig,
    work_root: Path,
    actor: str,
    clock: Clock,
    scratch_name: Callable[[int], str] = loading.scratch_name,
    progress: Callable[[Progress], None] = lambda _: None,
) -> Verified:
    """Check backup `backup_id` (see the module's docstring); BackupError (nothing
    checked) when it cannot start: no such backup, no fitting pg_restore."""
    row = complete_backup(store, backup_id)
    if row.kind == files_store.KIND:
        return _verify_files(store, row, actor, clock, progress)
    tool = archive.pg_restore(settings.bindir, row.pg_dump_version or "0")
    verified = Verified(row.id, row.database, deep)
    with audited(
        store,
        action="backup.verify",
        target=row.database,
        actor=actor,
        details={"backup": row.id, "deep": deep},
        secrets=[server_url],
        clock=clock,
    ) as audit:
        manifest = _shallow(verified, Path(row.path), row.manifest_sha256, tool, progress)
        if deep and manifest is not None and verified.ok:
            verified.scratch = scratch_name(row.id)
            _deep(
                verified, Path(row.path), manifest, tool, server_url, settings, work_root, progress
            )
        audit.details["differences"] = [d.text() for d in verified.differences[:50]]
        audit.outcome = "ok" if verified.ok else "differs"
        _mark(store, row.id, verified, clock)
    return verified


def _verify_files(
    store: Store, row: Backup, actor: str, clock: Clock, progress: Callable[[Progress], None]
) -> Verified:
    """Every object a files backup references, hashed again; missing or corrupt ones named."""
    verified = Verified(row.id, row.database, deep=False)
    folder = Path(row.path)
    with audited(
        store,
        action="backup.verify",
        target=row.database,
        actor=actor,
        details={"backup": row.id, "kind": files_store.KIND},
        clock=clock,
    ) as audit:
        try:
            manifest = archive.load_manifest(
                folder, sha256=row.manifest_sha256, kind=files_store.FORMAT
            )
            wanted = files_store.entries(manifest)
        except archive.ManifestUnreadable as exc:
            verified.differences.append(exc.difference)
        except BackupError as exc:
            shown = str(folder / files.MANIFEST)
            verified.differences.append(Difference("manifest", shown, "its entries", str(exc)))
        else:
            verified.files = len(wanted)
            state = Progress("hashing", len({e.sha256 for e in wanted}), unit="objects")

            def hashed() -> None:
                state.tables_done += 1
                progress(state)

            # A files backup's folder is <backups.dir>/files/<name>: the store is its root.
            root = folder.parent.parent
            verified.differences += files_store.check_objects(root, wanted, hashed)
        audit.details["differences"] = [d.text() for d in verified.differences[:50]]
        audit.outcome = "ok" if verified.ok else "differs"
        _mark(store, row.id, verified, clock)
    return verified


def _shallow(
    verified: Verified,
    folder: Path,
    manifest_sha256: str | None,
    tool: pgdump.PgTool,
    progress: Callable[[Progress], None],
) -> dict[str, Any] | None:
    """The manifest, files and table of contents; the manifest when it could be read."""
    try:
        manifest = archive.load_manifest(folder, sha256=manifest_sha256)
    except archive.ManifestUnreadable as exc:
        verified.differences.append(exc.difference)
        return None
    state = Progress("hashing", len(manifest["files"]), unit="files")

    def hashed() -> None:
        state.tables_done += 1
        progress(state)

    verified.files = len(manifest["files"])
    verified.differences += archive.check_files(folder, manifest, hashed)
    try:
        toc = archive.table_of_contents(tool, folder)
    except BackupError as exc:
        verified.differences.append(
            Difference("archive", TOC, "a table of contents pg_restore reads", str(exc))
        )
        return manifest
    verified.entries = len(toc)
    held, listed = archive.data_entries(toc), len(manifest["tables"])
    if held < listed:
        verified.differences.append(
            Difference("archive", TOC, f"the rows of {listed} tables", f"those of {held}")
        )
    return manifest


def _deep(
    verified: Verified,
    folder: Path,
    manifest: dict[str, Any],
    tool: pgdump.PgTool,
    server_url: str,
    settings: BackupsConfig,
    work_root: Path,
    progress: Callable[[Progress], None],
) -> None:
    """Restore into the scratch database and compare each table with the manifest."""
    assert verified.scratch is not None
    tables = manifest["tables"]
    restoring = Progress("restoring", len(tables))

    def restored(done: int) -> None:
        restoring.tables_done = min(done, len(tables))
        progress(restoring)

    comparing = Progress("comparing", len(tables))

    def compared(done: int) -> None:
        comparing.tables_done = done
        progress(comparing)

    with loading.scratch_database(server_url, verified.scratch) as url:
        try:
            split.restore_backup(
                tool,
                folder,
                url,
                work_root=work_root,
                jobs=settings.jobs,
                keep_owners=False,
                manifest=manifest,
                sort_memory=settings.restore_sort_memory,
                tick=restored,
            )
        except BackupFailed as exc:
            verified.differences.append(Difference("archive", "dump", "a clean restore", str(exc)))
            return
        lock_wait_ms = int(settings.lock_wait.total_seconds() * 1000)
        found = compare.compare(url, tables, lock_wait_ms=lock_wait_ms, done=compared)
    verified.tables = len(found.counted)
    verified.differences += found.differences


def _mark(store: Store, backup_id: int, verified: Verified, clock: Clock) -> None:
    with store.session() as session:
        row = session.get(Backup, backup_id)
        if row is not None:
            row.verified_at = clock.now() if verified.ok else None
            row.verified_deep = verified.ok and verified.deep
