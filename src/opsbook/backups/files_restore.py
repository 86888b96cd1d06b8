"""`backup restore-files ID DEST`: a files backup written back into a directory.

The plan reads only, and refuses before anything is written: a backup that is not a
files backup, a manifest that is not the one the catalog recorded, any entry that would
land outside DEST (`../../etc/passwd`, an absolute path: the manifest is data, and a
catalog or backups folder someone else could write must not steer a restore), and any
place inside DEST reached through a symbolic link or blocked by a folder.

Each file is copied from its object into a temporary name beside its place, hashed again
as written, given its mode and mtime, and only then renamed over its place: a restore
killed part-way leaves whole files or none under their names, and a corrupt object is
named, never put in place.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from opsbook.backups import archive, files, files_store
from opsbook.backups.archive import Difference
from opsbook.backups.create import Progress
from opsbook.backups.errors import BackupError, BackupFailed
from opsbook.backups.files_store import Entry
from opsbook.backups.verify import complete_backup
from opsbook.clock import Clock
from opsbook.console import visible
from opsbook.store import Store
from opsbook.store.audit import audited

TEMPORARY = ".opsbook-restore-"
SHOWN_OCCUPIED = 100


@dataclass(frozen=True)
class FilesRestorePlan:
    """What a restore would write, where, and what DEST holds now."""

    backup: int
    source: str
    taken_at: dt.datetime
    dest: Path
    root: Path  # the backups folder holding the objects
    entries: list[Entry]
    occupied: list[str]  # what DEST holds now (its first SHOWN_OCCUPIED names)
    overwritten: int  # files of the backup whose place in DEST is taken

    @property
    def bytes(self) -> int:
        return sum(e.bytes for e in self.entries)


@dataclass
class FilesRestored:
    files: int = 0
    bytes: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def plan_files_restore(*, store: Store, backup_id: int, dest: Path) -> FilesRestorePlan:
    """What restoring files backup `backup_id` into `dest` would do; reads only. BackupError
    (nothing written) naming what stops it."""
    row = complete_backup(store, backup_id)
    if row.kind != files_store.KIND:
        raise BackupError(
            f"backup {backup_id} is a database backup: opsbook backup restore {backup_id}"
            " --target URL"
        )
    folder = Path(row.path)
    manifest = archive.load_manifest(folder, sha256=row.manifest_sha256, kind=files_store.FORMAT)
    wanted = files_store.entries(manifest)
    if dest.exists() and not dest.is_dir():
        raise BackupError(f"{visible(str(dest))!r} is not a directory")
    dest = dest.resolve()
    overwritten = sum(_checked_place(dest, entry) for entry in wanted)
    held = sorted(os.listdir(dest)) if dest.exists() else []
    return FilesRestorePlan(
        backup=row.id,
        source=row.database,
        taken_at=row.started_at,
        dest=dest,
        root=folder.parent.parent,
        entries=wanted,
        occupied=[shown_path(Path(name)) for name in held[:SHOWN_OCCUPIED]],
        overwritten=overwritten,
    )


def shown_path(path: Path) -> str:
    """A path as text that shows every byte it holds (escapes, not raw bytes)."""
    return visible(files_store.shown_name(os.fsencode(path)))


def _checked_place(dest: Path, entry: Entry) -> bool:
    """Whether `entry`'s place in `dest` is taken; BackupError when it is outside `dest`,
    reached through a link or a file, or a folder."""
    target = files_store.inside(dest, entry.name)
    here = dest
    for part in target.relative_to(dest).parts[:-1]:
        here = here / part
        if here.is_symlink() or (here.exists() and not here.is_dir()):
            raise BackupError(
                f"{visible(entry.shown)!r} would be written through {visible(str(here))!r},"
                " which is not a folder in the destination"
            )
    if target.is_dir() and not target.is_symlink():
        raise BackupError(f"{visible(entry.shown)!r}: a folder is in its place")
    return target.is_symlink() or target.exists()


def restore_files(
    *,
    store: Store,
    plan: FilesRestorePlan,
    actor: str,
    clock: Clock,
    progress: Callable[[Progress], None] = lambda _: None,
) -> FilesRestored:
    """Write the plan's files into its destination (see the module's docstring)."""
    done = FilesRestored()
    state = Progress("restoring", len(plan.entries), unit="files")
    with audited(
        store,
        action="backup.restore_files",
        target=shown_path(plan.dest),
        actor=actor,
        details={"backup": plan.backup, "files": len(plan.entries)},
        clock=clock,
    ) as audit:
        try:
            plan.dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise BackupFailed(f"{shown_path(plan.dest)} cannot be written: {why}") from None
        for entry in plan.entries:
            try:
                difference = _restore_one(plan, entry)
            except OSError as exc:
                why = exc.strerror or type(exc).__name__
                raise BackupFailed(f"{visible(entry.shown)!r} cannot be written: {why}") from None
            if difference is None:
                done.files += 1
                done.bytes += entry.bytes
            else:
                done.differences.append(difference)
            state.tables_done += 1
            state.bytes = done.bytes
            progress(state)
        audit.details.update(restored=done.files, bytes=done.bytes)
        audit.details["differences"] = [d.text() for d in done.differences[:50]]
        audit.outcome = "ok" if done.ok else "differs"
    return done


def _restore_one(plan: FilesRestorePlan, entry: Entry) -> Difference | None:
    target = files_store.inside(plan.dest, entry.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.parent.resolve().is_relative_to(plan.dest):
        raise BackupFailed(f"{visible(entry.shown)!r}: its folder left the destination")
    source = files_store.object_path(plan.root, entry.sha256)
    expected = f"sha256 {entry.sha256}"
    try:
        src = source.open("rb")
    except FileNotFoundError:
        return Difference("object", f"{source} (file {entry.shown})", expected, "no object")
    with src:
        temporary = _copied(src, target.parent)
    found = files.sha256(temporary)
    if found != entry.sha256:
        temporary.unlink()
        return Difference("file", entry.shown, expected, f"sha256 {found} as written")
    # Owners are not restored, so neither are set-user-ID and set-group-ID: restored by
    # root they would turn someone's file into a program that runs as root.
    os.chmod(temporary, entry.mode & 0o1777)
    os.utime(temporary, ns=(entry.mtime_ns, entry.mtime_ns))
    os.replace(temporary, target)
    return None


def _copied(src: BinaryIO, folder: Path) -> Path:
    """`src` copied into a new temporary file in `folder`, on disk."""
    descriptor, temporary = tempfile.mkstemp(prefix=TEMPORARY, dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as out:
            shutil.copyfileobj(src, out, files.CHUNK)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)
