"""A backup's files on disk: hashing every file, and writing the manifest so that a
half-written one can never be taken for a finished one.

pg_dump's directory format keeps each table's rows in `<dumpId>.dat` (large objects in
`blob_<oid>.dat`) beside `toc.dat`, the table of contents. With `compression: zstd` each
data file becomes `<name>.zst` as pg_dump writes it (compressing.py) and `toc.dat` still
says "uncompressed": a restore hands pg_restore each file decompressed under its plain
name (streaming.py).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from opsbook.jsonout import dumps

MANIFEST = "manifest.json"
DUMP = "dump"  # pg_dump's folder inside a backup's folder
CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative to the backup's folder, "/"-separated
    bytes: int
    sha256: str
    # Set for a file opsbook compressed: its codec and its size before.
    codec: str | None = None
    raw_bytes: int | None = None


def data_files(folder: Path) -> list[Path]:
    """pg_dump's data files in `folder` (not toc.dat, not blobs.toc)."""
    return sorted(p for p in folder.iterdir() if p.suffix == ".dat" and p.name != "toc.dat")


def folder_bytes(folder: Path) -> int:
    """Bytes written so far under `folder` (files may vanish while it is read)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except FileNotFoundError:
            continue
    return total


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading, refused (OSError) unless it is a regular file: a pipe or
    a device put in a backup's place would block the reader for ever, or never end."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def why(exc: Exception) -> str:
    """What went wrong reading a file, without its path (the message names the file)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open_regular(path) as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def stored_files(
    backup: Path,
    raw_sizes: dict[str, int],
    codec: str | None,
    digests: dict[str, str] | None = None,
) -> list[StoredFile]:
    """Every file under `backup` but the manifest, with its size and sha256 (taken from
    `digests`, by name in the dump folder, for the files hashed as they were written)."""
    known = digests or {}
    found = []
    for path in sorted(p for p in backup.rglob("*") if p.is_file() and p.name != MANIFEST):
        relative = path.relative_to(backup).as_posix()
        raw = raw_sizes.get(path.name) if path.parent.name == DUMP else None
        found.append(
            StoredFile(
                relative,
                path.stat().st_size,
                (known.get(path.name) if path.parent.name == DUMP else None) or sha256(path),
                codec if raw is not None else None,
                raw,
            )
        )
    return found


def write_manifest(backup: Path, manifest: dict[str, Any]) -> str:
    """Write manifest.json durably (temp file, fsync, rename); returns its sha256."""
    text = dumps(manifest, indent=2, sort_keys=False) + "\n"
    temporary = backup / f".{MANIFEST}.tmp"
    with temporary.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(backup / MANIFEST)
    return hashlib.sha256(text.encode()).hexdigest()


def seal(partial: Path, final: Path, manifest: dict[str, Any]) -> str:
    """The manifest written into `partial`, which then becomes `final` (durably): only a
    finished backup's folder has its final name. Returns the manifest's sha256."""
    digest = write_manifest(partial, manifest)
    partial.rename(final)
    fsync_dir(final.parent)
    return digest


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
