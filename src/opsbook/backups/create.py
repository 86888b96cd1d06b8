"""`backup create`: a logical backup of the target database, consistent with its own
manifest, that never takes a lock blocking the app's reads or writes.

The order is what makes a killed backup harmless: every refusal (a bad label, a folder
that cannot be written, an unreachable database, no fitting pg_dump) comes before
anything is written; the catalog row is `running` while files go into `<name>.partial`;
only once manifest.json is on disk is the folder renamed and the row marked `complete`.
A process killed at any point leaves no complete row, and the next backup is unaffected.

Locks: pg_dump and the counting scans take ACCESS SHARE locks only, which conflict with
no read or write (only with DDL such as ALTER TABLE, DROP, TRUNCATE, VACUUM FULL). Both
give up after backups.lock_wait rather than queue behind a waiting DDL statement, which
would make the app's queries queue behind them.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from opsbook.backups import compressing, files, pgdump, targets
from opsbook.backups import schema as catalog
from opsbook.backups.errors import BackupError, BackupFailed
from opsbook.backups.models import Backup
from opsbook.backups.snapshot import CHECKSUM_METHOD, SETTINGS, Counted, Snapshot, Table
from opsbook.clock import Clock
from opsbook.config.backups import BackupsConfig
from opsbook.console import visible
from opsbook.store import Store
from opsbook.store.audit import audited

LOCKS = "ACCESS SHARE locks only: no lock that blocks reads or writes"
MAX_LABEL = 200


@dataclass
class Progress:
    """What the backup has done so far, handed to the caller's `progress` as it moves."""

    phase: str  # "dumping", "compressing", "hashing", "restoring", "comparing"
    tables: int  # how many there are to do: tables, or `unit`
    tables_done: int = 0
    bytes: int = 0
    unit: str = "tables"


@dataclass(frozen=True)
class Created:
    backup: Backup
    manifest: dict[str, Any]


def check_label(label: str | None) -> str | None:
    """A label is one line of text a person reads in `backup list`."""
    if label is None:
        return None
    if not label.strip() or len(label) > MAX_LABEL:
        raise BackupError(f"label {visible(label[:60])!r}: 1 to {MAX_LABEL} characters")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in label):
        raise BackupError(f"label {visible(label)!r} holds a control character")
    return label


def writable_root(root: Path, *, what: str = "backups.dir") -> Path:
    """The backups folder (or `what`), created if needed and proven writable, as an
    absolute path."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as exc:
        raise BackupError(f"{what} {root} cannot be written: {exc.strerror or exc}") from None
    return root.resolve()


def create_backup(
    *,
    store: Store,
    url: str,
    settings: BackupsConfig,
    root: Path,
    label: str | None,
    checksums: bool,
    actor: str,
    clock: Clock,
    progress: Callable[[Progress], None] = lambda _: None,
    with_schema: bool = False,
) -> Created:
    """Back up the database at `url` into a new folder under `root`; BackupError (nothing
    changed) when it cannot start, BackupFailed (row `failed`, files removed) when it
    stopped part-way. `with_schema` records the schema as the snapshot sees it, and each
    sequence's value before and after the dump, in the manifest (what a drill compares)."""
    label = check_label(label)
    root = writable_root(root)
    lock_wait_ms = int(settings.lock_wait.total_seconds() * 1000)
    snapshot = Snapshot(url, lock_wait_ms=lock_wait_ms)
    try:
        dump = pgdump.choose(snapshot.server_major, pgdump.candidates(settings.bindir))
        tables = snapshot.tables()
        described = catalog.describe(snapshot.conn) if with_schema else None
        started = clock.now()
        with audited(
            store,
            action="backup.create",
            target=snapshot.database,
            actor=actor,
            details={"label": label, "tables": len(tables), "locks": LOCKS},
            secrets=[url],
            clock=clock,
        ) as audit:
            row = _catalogue(
                store, snapshot, dump, settings, root, label, checksums, actor, started
            )
            audit.details["backup"] = row.id
            try:
                created = _make(
                    store,
                    row,
                    snapshot,
                    dump,
                    tables,
                    settings,
                    url,
                    checksums,
                    clock,
                    progress,
                    described,
                )
            except BaseException as exc:
                mark_failed(store, row, exc)
                raise
            audit.details.update(size_bytes=row.size_bytes, path=row.path, rows=row.rows)
            return created
    finally:
        snapshot.close()


def _catalogue(
    store: Store,
    snapshot: Snapshot,
    dump: pgdump.PgTool,
    settings: BackupsConfig,
    root: Path,
    label: str | None,
    checksums: bool,
    actor: str,
    started: Any,
) -> Backup:
    """The catalog row, `running`, its folder named by its start time and id."""
    with store.session() as session:
        row = Backup(
            state="running",
            label=label,
            database=snapshot.database,
            source=targets.of_connection(snapshot.conn),
            path="",
            started_at=started,
            server_version=snapshot.server_version,
            pg_dump_version=dump.version,
            compression=settings.compression,
            checksums=checksums,
            actor=actor,
            pid=os.getpid(),
            host=socket.gethostname(),
        )
        session.add(row)
        session.flush()
        row.path = str(root / f"{started:%Y%m%dT%H%M%SZ}-{row.id}")
    return row


def _make(
    store: Store,
    row: Backup,
    snapshot: Snapshot,
    dump: pgdump.PgTool,
    tables: list[Table],
    settings: BackupsConfig,
    url: str,
    checksums: bool,
    clock: Clock,
    progress: Callable[[Progress], None],
    described: catalog.Description | None,
) -> Created:
    final = Path(row.path)
    partial = final.with_name(final.name + ".partial")
    partial.mkdir()
    out = partial / files.DUMP
    counted, compressed = _dump(snapshot, dump, tables, settings, url, out, checksums, progress)
    progress(Progress("hashing", len(tables), len(tables), files.folder_bytes(partial)))
    stored = files.stored_files(
        partial, compressed.raw_sizes, "zstd" if compressed.raw_sizes else None, compressed.digests
    )
    ended = clock.now()
    manifest = _manifest(row, snapshot, dump, settings, counted, stored, ended, checksums)
    if described is not None:
        # pg_dump has ended: its sequence values were read between these two readings.
        after = catalog.sequence_values(snapshot.conn)
        manifest["schema"] = {"description": described, "sequences_after": after}
    digest = files.seal(partial, final, manifest)
    with store.session() as session:
        done = session.get(Backup, row.id)
        assert done is not None
        done.state, done.ended_at, done.manifest_sha256 = "complete", ended, digest
        done.size_bytes = manifest["size_bytes"]
        done.tables, done.rows = len(counted), sum(c.rows for c in counted)
    row.state, row.ended_at, row.manifest_sha256 = "complete", ended, digest
    row.size_bytes, row.tables, row.rows = done.size_bytes, done.tables, done.rows
    return Created(row, manifest)


def _dump(
    snapshot: Snapshot,
    dump: pgdump.PgTool,
    tables: list[Table],
    settings: BackupsConfig,
    url: str,
    out: Path,
    checksums: bool,
    progress: Callable[[Progress], None],
) -> tuple[list[Counted], compressing.Compressed]:
    """pg_dump of the snapshot while this thread's twin counts the same snapshot's rows,
    and its data files compressed as they are written (compressing.py); the snapshot stays
    open until all are done."""
    argv, env = pgdump.command(
        dump,
        url,
        out=out,
        snapshot=snapshot.id,
        jobs=settings.jobs,
        gzip_level=settings.compression_level() if settings.compression == "gzip" else None,
        lock_wait_ms=int(settings.lock_wait.total_seconds() * 1000),
    )
    counted: list[Counted] = []
    failure: list[BaseException] = []

    def count() -> None:
        try:
            counted.extend(
                snapshot.count(tables, checksums=checksums, max_rows=settings.checksum_max_rows)
            )
        except BaseException as exc:
            failure.append(exc)

    level = settings.compression_level() if settings.compression == "zstd" else None
    follower = (
        compressing.Follower(out, level, one_at_a_time=settings.jobs == 1).start()
        if level is not None
        else None
    )
    try:
        running = pgdump.Running(
            argv, env, settings.jobs, item_done=follower.finished if follower else lambda _: None
        )
    except BaseException:
        if follower is not None:
            follower.abort()
        raise
    counter = threading.Thread(target=count, daemon=True)
    counter.start()
    state = Progress("dumping", len(tables))

    def tick() -> None:
        if failure:
            running.stop()
        state.tables_done = min(running.finished, len(tables))
        state.bytes = files.folder_bytes(out) if out.exists() else 0
        progress(state)

    try:
        code = running.wait(tick)
    except BaseException:
        running.stop()
        if follower is not None:
            follower.abort()
        raise
    compressed = _compressed(follower, ok=code == 0)
    counter.join()
    if failure:
        raise BackupFailed(f"counting the rows failed: {_first_line(failure[0])}")
    if code != 0:
        raise BackupFailed(f"pg_dump exited with {code}: {running.error()}")
    tick()
    return counted, compressed


def _compressed(follower: compressing.Follower | None, *, ok: bool) -> compressing.Compressed:
    """What the follower compressed, the rest done now that pg_dump has ended."""
    if follower is None:
        return compressing.Compressed()
    if not ok:
        follower.abort()
        return compressing.Compressed()
    try:
        return follower.close()
    except (OSError, zstandard.ZstdError) as exc:
        # A disk that fills, or zstd itself refusing (out of memory, a bad frame): the
        # backup is failed like any other, not a traceback.
        raise BackupFailed(f"compressing the dump failed: {_first_line(exc)}") from None


def _manifest(
    row: Backup,
    snapshot: Snapshot,
    dump: pgdump.PgTool,
    settings: BackupsConfig,
    counted: list[Counted],
    stored: list[files.StoredFile],
    ended: Any,
    checksums: bool,
) -> dict[str, Any]:
    """manifest.json: what the backup holds and how to prove it (format 1)."""
    return {
        "format": "opsbook-backup",
        "version": 1,
        "id": row.id,
        "label": row.label,
        "database": snapshot.database,
        "server_version": snapshot.server_version,
        "pg_dump_version": dump.version,
        "started_at": row.started_at.isoformat(),
        "ended_at": ended.isoformat(),
        "snapshot": snapshot.id,
        "format_options": {"pg_dump": "directory", "jobs": settings.jobs},
        "compression": {"codec": settings.compression, "level": settings.compression_level()},
        "locks": LOCKS,
        "size_bytes": sum(f.bytes for f in stored),
        "files": [vars(f) for f in stored],
        "tables": [vars(c) for c in counted],
        "checksums": {"method": CHECKSUM_METHOD, "settings": SETTINGS} if checksums else None,
    }


def mark_failed(store: Store, row: Backup, exc: BaseException) -> None:
    """The row says `failed` and why; the half-written folder goes."""
    final = Path(row.path)
    for folder in (final.with_name(final.name + ".partial"), final):
        shutil.rmtree(folder, ignore_errors=True)
    with store.session() as session:
        failed = session.get(Backup, row.id)
        if failed is not None:
            failed.state, failed.error = "failed", _first_line(exc)
    row.state = "failed"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
