"""`backup files SRC`: the app's stored files (the seed's `recordings/<org-id>/<file>.mp3`,
a local directory for now) into the content-addressed store, and `backup verify` of such
a backup.

Incremental: a file whose size and mtime are those the previous complete files backup of
the same SRC recorded, and whose object is still in the store, is neither read nor copied
again; every other file is read once, hashed while it is copied into the store (an object
already there is not written twice).

The order is create's: every refusal (a bad label, SRC not a readable directory, a store
that cannot be written) comes before the catalog row; the row is `running` while objects
go in; the manifest is written into `<stamp>-<id>.partial`, which is renamed, and only
then is the row `complete`. A run killed part-way leaves no complete row, and objects
only under names that say their content (files_store.put).

Symbolic links are skipped with a warning, never followed: one pointing out of SRC
(`/etc`, another app's folder) must not bring that place into the backup, nor a restore
write it back. Sockets, FIFOs and devices are skipped likewise. Empty folders are not kept.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from opsbook.backups import archive, files, files_store
from opsbook.backups.create import Progress, check_label, mark_failed, writable_root
from opsbook.backups.errors import BackupError, BackupFailed
from opsbook.backups.files_store import Entry
from opsbook.backups.models import Backup
from opsbook.clock import Clock
from opsbook.console import visible
from opsbook.store import Store
from opsbook.store.audit import audited

KIND = files_store.KIND


@dataclass(frozen=True)
class Found:
    """A regular file under SRC, as the scan saw it."""

    name: bytes  # relative to SRC, "/"-separated
    size: int
    mtime_ns: int
    mode: int


@dataclass
class FilesBackedUp:
    """What a files backup did: how many files were new, changed or unchanged since the
    previous one of the same SRC, and how many bytes were read and newly stored."""

    backup: int
    source: str
    path: str
    previous: int | None = None
    files: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    bytes: int = 0
    bytes_read: int = 0
    bytes_copied: int = 0
    skipped: list[str] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list, repr=False)


def source_key(source: Path) -> str:
    """SRC as the catalog keeps it (text, whatever bytes the path holds)."""
    return files_store.shown_name(os.fsencode(source))


def scan(source: Path, warn: Callable[[str], None]) -> list[Found]:
    """Every regular file under `source`, by name; links and special files are skipped
    with a warning. BackupError naming a folder that cannot be read."""
    base = os.fsencode(source)
    found, folders = [], [b""]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(os.path.join(base, folder) if folder else base) as listing:
                items = list(listing)
        except OSError as exc:
            shown = visible(files_store.shown_name(os.path.join(base, folder)))
            raise BackupError(f"{shown} cannot be read: {exc.strerror or exc}") from None
        for item in items:
            name = folder + b"/" + item.name if folder else item.name
            if item.is_symlink():
                warn(f"skipped {_shown(name)}: a symbolic link (never followed)")
            elif item.is_dir(follow_symlinks=False):
                folders.append(name)
            elif item.is_file(follow_symlinks=False):
                info = item.stat(follow_symlinks=False)
                found.append(
                    Found(name, info.st_size, info.st_mtime_ns, stat.S_IMODE(info.st_mode))
                )
            else:
                warn(f"skipped {_shown(name)}: not a regular file")
    return sorted(found, key=lambda f: f.name)


def _shown(name: bytes) -> str:
    return repr(visible(files_store.shown_name(name)))


def backup_files(
    *,
    store: Store,
    source: Path,
    root: Path,
    label: str | None,
    actor: str,
    clock: Clock,
    warn: Callable[[str], None] = lambda _: None,
    progress: Callable[[Progress], None] = lambda _: None,
) -> FilesBackedUp:
    """Back up the directory `source` into the store under `root` (see the module's
    docstring); BackupError (nothing changed) when it cannot start, BackupFailed (row
    `failed`) when it stopped part-way."""
    label = check_label(label)
    if not source.is_dir():
        raise BackupError(f"{visible(str(source))!r} is not a directory")
    source = source.resolve()
    root = writable_root(root)
    _not_its_own_output(source, root)
    skipped: list[str] = []

    def skip(text: str) -> None:
        skipped.append(text)
        warn(text)

    found = scan(source, skip)
    key = source_key(source)
    previous_id, previous = _previous(store, key, skip)
    with audited(
        store,
        action="backup.files",
        target=key,
        actor=actor,
        details={"label": label, "files": len(found), "previous": previous_id},
        clock=clock,
    ) as audit:
        row = _catalogue(store, key, root, label, actor, clock)
        audit.details["backup"] = row.id
        done = FilesBackedUp(row.id, key, row.path, previous_id, skipped=skipped)
        try:
            _copy(done, source, root, found, previous, skip, progress)
            _finish(store, row, root, done, clock)
        except BaseException as exc:
            mark_failed(store, row, exc)
            raise
        audit.details.update(
            {k: getattr(done, k) for k in ("new", "changed", "unchanged", "bytes_copied")}
        )
        return done


def _not_its_own_output(source: Path, root: Path) -> None:
    """BackupError when `source` holds backups.dir (or lies inside it): each run would copy
    the objects the runs before it wrote, growing without end."""
    store_dir = root.resolve()
    if store_dir == source or source in store_dir.parents or store_dir in source.parents:
        raise BackupError(
            f"{visible(str(source))!r} and backups.dir {visible(str(store_dir))!r} overlap:"
            " a files backup would copy its own output; back up a folder outside backups.dir"
        )


def _previous(
    store: Store, key: str, warn: Callable[[str], None]
) -> tuple[int | None, dict[bytes, Entry]]:
    """The newest complete files backup of the same SRC and its entries by name."""
    with store.reading() as session:
        row = session.scalars(
            select(Backup)
            .where(Backup.kind == KIND, Backup.state == "complete", Backup.source == key)
            .order_by(Backup.started_at.desc(), Backup.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None, {}
        path, digest, number = Path(row.path), row.manifest_sha256, row.id
    try:
        manifest = archive.load_manifest(path, sha256=digest, kind=files_store.FORMAT)
        return number, {e.name: e for e in files_store.entries(manifest)}
    except BackupError as exc:
        warn(f"backup {number} cannot be read ({exc}): every file is read again")
        return None, {}


def _catalogue(
    store: Store, key: str, root: Path, label: str | None, actor: str, clock: Clock
) -> Backup:
    started = clock.now()
    with store.session() as session:
        row = Backup(
            state="running",
            kind=KIND,
            label=label,
            database=key,
            source=key,
            path="",
            started_at=started,
            compression="none",
            actor=actor,
            pid=os.getpid(),
            host=socket.gethostname(),
        )
        session.add(row)
        session.flush()
        row.path = str(root / files_store.FILES / f"{started:%Y%m%dT%H%M%SZ}-{row.id}")
    return row


def _copy(
    done: FilesBackedUp,
    source: Path,
    root: Path,
    found: list[Found],
    previous: dict[bytes, Entry],
    skip: Callable[[str], None],
    progress: Callable[[Progress], None],
) -> None:
    """Each file into the store unless unchanged, its entry in `done` (in name order)."""
    state = Progress("copying", len(found), unit="files")
    base = os.fsencode(source)
    for item in found:
        before = previous.get(item.name)
        if (
            before is not None
            and (before.bytes, before.mtime_ns) == (item.size, item.mtime_ns)
            and files_store.object_path(root, before.sha256).is_file()
        ):
            done.unchanged += 1
            sha = before.sha256
            size = before.bytes
        else:
            put = _put(root, os.path.join(base, item.name), item)
            if put is None:  # deleted by the app since the scan: not in this backup
                skip(f"skipped {_shown(item.name)}: it went while the backup ran")
                continue
            sha, size, stored = put
            done.bytes_read += size
            done.bytes_copied += size if stored else 0
            if before is None:
                done.new += 1
            else:
                done.changed += 1
        done.entries.append(Entry(item.name, size, item.mtime_ns, item.mode, sha))
        done.bytes += size
        state.tables_done += 1
        state.bytes = done.bytes
        progress(state)
    done.files = len(done.entries)


def _put(root: Path, path: bytes, item: Found) -> tuple[str, int, bool] | None:
    """One file into the store (None: it is gone); opened without following a link put
    there since the scan."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BackupFailed(f"{_shown(item.name)} cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(descriptor, "rb") as source:
        return files_store.put(root, source)


def _finish(store: Store, row: Backup, root: Path, done: FilesBackedUp, clock: Clock) -> None:
    """The manifest on disk, the folder renamed, then the row complete."""
    # An object found at the start may have gone since (a prune that planned while no
    # files backup ran): the manifest must not name it.
    gone = [e for e in done.entries if not files_store.object_path(root, e.sha256).is_file()]
    if gone:
        raise BackupFailed(
            f"{len(gone)} object(s) went while the backup ran, such as"
            f" {_shown(gone[0].name)}'s: run it again"
        )
    final = Path(row.path)
    partial = final.with_name(final.name + ".partial")
    partial.mkdir(parents=True)
    ended = clock.now()
    digest = files.seal(partial, final, _manifest(row, done, ended))
    with store.session() as session:
        complete = session.get(Backup, row.id)
        assert complete is not None
        complete.state, complete.ended_at, complete.manifest_sha256 = "complete", ended, digest
        complete.size_bytes, complete.files = done.bytes, done.files


def _manifest(row: Backup, done: FilesBackedUp, ended: Any) -> dict[str, Any]:
    """manifest.json of a files backup (format opsbook-files, version 1)."""
    return {
        "format": files_store.FORMAT,
        "version": 1,
        "id": row.id,
        "label": row.label,
        "source": done.source,
        "started_at": row.started_at.isoformat(),
        "ended_at": ended.isoformat(),
        "previous": done.previous,
        "size_bytes": done.bytes,
        "files": [e.to_json() for e in done.entries],
    }
