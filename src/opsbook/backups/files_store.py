"""The content-addressed store of files backups, and how a files backup's manifest names
its files.

Every file's content is kept once, under `<backups.dir>/files/objects/<sha256[:2]>/<sha256>`,
however many backups (or files in one backup) hold it. An object is written under a
temporary name in the objects folder, fsynced, then renamed: a run killed part-way leaves
at most a `.tmp-*` file, never a half object under its final name, and a name always
says its content. Prune deletes the objects no kept files backup references, and the
leftover temporary files, only when no files backup is at work (its objects are in no
manifest until it finishes).

File names are bytes on Linux and need not be UTF-8 (the app's uploads keep what the
client sent). The manifest, being JSON, names each file by its UTF-8 text in `path`;
a name that is not UTF-8 also gets its exact bytes in `path_b64`, and `path` shows it
with `\\xNN` escapes for people.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from opsbook.backups import archive, files
from opsbook.backups.errors import BackupError
from opsbook.console import visible

FILES = "files"  # files backups' folder inside backups.dir
KIND = "files"  # their kind in the catalog
OBJECTS = "objects"
TEMPORARY = ".tmp-"
FORMAT = "opsbook-files"
ENTRY_KEYS = {"path": str, "bytes": int, "sha256": str, "mtime_ns": int, "mode": int}
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Entry:
    """One file of a files backup: where it goes (relative, `/`-separated bytes) and what
    it holds."""

    name: bytes
    bytes: int
    mtime_ns: int
    mode: int  # permission bits (st_mode & 0o7777)
    sha256: str

    @property
    def shown(self) -> str:
        return shown_name(self.name)

    def to_json(self) -> dict[str, Any]:
        shown = {"path": self.shown}
        try:
            self.name.decode("utf-8")
        except UnicodeDecodeError:
            shown["path_b64"] = base64.b64encode(self.name).decode("ascii")
        return {
            **shown,
            "bytes": self.bytes,
            "mtime_ns": self.mtime_ns,
            "mode": self.mode,
            "sha256": self.sha256,
        }


def shown_name(name: bytes) -> str:
    """A file name as text: UTF-8 as it is, any other byte as `\\xNN`."""
    return name.decode("utf-8", "backslashreplace")


def entry_from_json(item: dict[str, Any]) -> Entry:
    """An entry of a manifest opsbook wrote; BackupError naming the entry otherwise."""
    if not all(isinstance(item.get(k), t) for k, t in ENTRY_KEYS.items()):
        raise BackupError(f"a manifest entry is not one opsbook wrote: {visible(item)[:200]}")
    sha = item["sha256"]
    if len(sha) != 64 or not set(sha) <= _HEX:
        raise BackupError(f"manifest entry {visible(item['path'])!r}: sha256 {visible(sha)!r}")
    encoded = item.get("path_b64")
    try:
        name = (
            base64.b64decode(encoded, validate=True)
            if isinstance(encoded, str)
            else item["path"].encode("utf-8")
        )
    except (binascii.Error, UnicodeEncodeError):
        raise BackupError(
            f"manifest entry {visible(item['path'])!r}: a name it cannot be"
        ) from None
    return Entry(name, item["bytes"], item["mtime_ns"], item["mode"] & 0o7777, sha)


def entries(manifest: dict[str, Any]) -> list[Entry]:
    return [entry_from_json(item) for item in manifest["files"]]


def inside(folder: Path, name: bytes) -> Path:
    """Where the file `name` goes in `folder`; BackupError for a name that would leave it
    (`../x`, an absolute path, NUL): a manifest must not make a restore write elsewhere."""
    return archive.stored_path(folder, os.fsdecode(name))


def objects_folder(root: Path) -> Path:
    return root / FILES / OBJECTS


def object_path(root: Path, sha256: str) -> Path:
    return objects_folder(root) / sha256[:2] / sha256


def put(root: Path, source: BinaryIO) -> tuple[str, int, bool]:
    """Copy `source` into the store, hashing as it goes: its sha256, its size, and
    whether it was new (an object already there is not written again)."""
    folder = objects_folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=TEMPORARY, dir=folder)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(descriptor, "wb") as out:
            while chunk := source.read(files.CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        final = object_path(root, digest.hexdigest())
        if final.exists():
            os.unlink(temporary)
            return digest.hexdigest(), size, False
        final.parent.mkdir(exist_ok=True)
        os.rename(temporary, final)
        files.fsync_dir(final.parent)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size, True


def check_objects(
    root: Path, wanted: Iterable[Entry], done: Callable[[], None] = lambda: None
) -> list[archive.Difference]:
    """Each object the entries reference, hashed again once; missing or corrupt ones named
    with a file that needs them."""
    differences, seen = [], set()
    for entry in wanted:
        if entry.sha256 in seen:
            continue
        seen.add(entry.sha256)
        path = object_path(root, entry.sha256)
        try:
            found = files.sha256(path)
        except FileNotFoundError:
            found = "no object"
        except OSError as exc:  # a folder, a pipe or a device in its place; unreadable
            found = files.why(exc)
        else:
            found = "" if found == entry.sha256 else f"sha256 {found}"
        if found:
            differences.append(
                archive.Difference(
                    "object",
                    f"{path} (file {visible(entry.shown)})",
                    f"sha256 {entry.sha256} ({entry.bytes:,} bytes)",
                    found,
                )
            )
        done()
    return differences


def unreferenced(root: Path, referenced: set[str]) -> list[Path]:
    """Objects no kept backup references, and temporary files runs left behind."""
    folder = objects_folder(root)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.name.startswith(TEMPORARY)]
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        found += [p for p in sorted(sub.iterdir()) if p.name not in referenced]
    return found


@dataclass(frozen=True)
class Sweep:
    """What a prune deletes from the store: objects no kept files backup references (and
    temporary files killed runs left), or why it deletes none this time."""

    objects: list[Path]
    referenced: int
    skipped: str | None = None

    @property
    def bytes(self) -> int:
        return sum(_size(p) for p in self.objects)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def plan_sweep(root: Path, kept: list[Path], *, busy: bool) -> Sweep:
    """The objects none of the `kept` files backups' folders reference. None while a files
    backup is `busy` (its objects are in no manifest yet) or a kept manifest cannot be
    read (what it references is then unknown)."""
    if busy:
        return Sweep([], 0, "a files backup is running: its objects are in no manifest yet")
    referenced: set[str] = set()
    for folder in kept:
        try:
            manifest = archive.load_manifest(folder, kind=FORMAT)
            referenced |= {e.sha256 for e in entries(manifest)}
        except BackupError as exc:
            return Sweep([], 0, f"{folder} cannot be read ({exc}): no object is deleted")
    return Sweep(unreferenced(root, referenced), len(referenced))


def sweep(planned: Sweep, again: Sweep) -> tuple[int, int]:
    """Delete the objects both the plan and a fresh look (`again`, after the backups went)
    found unreferenced: one a backup finished since the plan references stays. Returns
    how many and their bytes."""
    if again.skipped:
        return 0, 0
    doomed = set(planned.objects) & set(again.objects)
    size = sum(_size(p) for p in doomed)
    for path in doomed:
        path.unlink(missing_ok=True)
    return len(doomed), size
