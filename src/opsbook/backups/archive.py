"""Reading a backup back: its manifest, its files against their sha256, pg_dump's table of
contents.

A backup's folder is never written to here; `toc.dat` is read in place (`pg_restore
--list` needs nothing else). What pg_restore reads to restore is in streaming.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from opsbook.backups import files, pgdump
from opsbook.backups.errors import BackupError
from opsbook.console import visible

MAX_MANIFEST = 256 * 1024 * 1024
_DATA = re.compile(r"(\d+); \d+ \d+ TABLE DATA (.*)\Z")
_REQUIRED = {
    "opsbook-backup": ("format", "version", "database", "pg_dump_version", "files", "tables"),
    "opsbook-files": ("format", "version", "source", "files"),
}


@dataclass(frozen=True)
class Difference:
    """One thing in a backup that is not what its manifest or catalog row says."""

    kind: str  # "manifest", "file", "archive", "table"
    name: str
    expected: str
    found: str

    def text(self) -> str:
        return f"{self.kind} {self.name}: expected {self.expected}, found {self.found}"


class ManifestUnreadable(BackupError):
    """The manifest is missing, cut short or not one opsbook wrote."""

    def __init__(self, difference: Difference) -> None:
        super().__init__(difference.text())
        self.difference = difference


def load_manifest(
    folder: Path, *, sha256: str | None = None, kind: str = "opsbook-backup"
) -> dict[str, Any]:
    """The manifest of the backup in `folder` (a database backup's, or with `kind`
    "opsbook-files" a files backup's), checked against the catalog's sha256 when given;
    ManifestUnreadable naming the file and what is wrong with it."""
    path = folder / files.MANIFEST

    def unreadable(expected: str, found: str) -> ManifestUnreadable:
        return ManifestUnreadable(Difference("manifest", str(path), expected, found))

    try:
        if path.stat().st_size > MAX_MANIFEST:
            raise unreadable("a manifest", f"{path.stat().st_size:,} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise unreadable("the backup's manifest", exc.strerror or type(exc).__name__) from None
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        found = f"sha256 {hashlib.sha256(raw).hexdigest()} ({len(raw):,} bytes)"
        raise unreadable(f"sha256 {sha256} (recorded in the catalog)", found)
    try:
        manifest = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise unreadable("valid JSON", f"{visible(str(exc)[:200])}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != kind:
        raise unreadable(f"an {kind} manifest", "another document")
    required = _REQUIRED[kind]
    missing = [key for key in required if key not in manifest]
    if missing:
        raise unreadable("the keys " + ", ".join(required), "no " + ", ".join(missing))
    if not _all_shaped(manifest["files"], FILE_KEYS) or not _all_shaped(
        manifest.get("tables", []), TABLE_KEYS
    ):
        raise unreadable("files and tables as lists of objects", "something else")
    return manifest


FILE_KEYS = {"path": str, "bytes": int, "sha256": str}
TABLE_KEYS = {"schema": str, "name": str, "rows": int}


def _all_shaped(items: object, keys: dict[str, type]) -> bool:
    return isinstance(items, list) and all(
        isinstance(item, dict) and all(isinstance(item.get(k), t) for k, t in keys.items())
        for item in items
    )


def stored_path(folder: Path, relative: object) -> Path:
    """A file the manifest names, inside `folder`: a manifest edited to say `../x` or an
    absolute path must not make a verify read (or a restore copy) another place."""
    if not isinstance(relative, str):
        raise BackupError(f"the manifest names a file as {visible(repr(relative)[:80])}")
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or ".." in parts or "\x00" in relative:
        raise BackupError(f"the manifest names a file outside the backup: {visible(relative)!r}")
    return folder.joinpath(*parts)


def check_files(
    folder: Path, manifest: dict[str, Any], done: Callable[[], None] = lambda: None
) -> list[Difference]:
    """Each file the manifest lists, hashed again; what is missing or differs, named."""
    differences = []
    for entry in manifest["files"]:
        path = stored_path(folder, entry.get("path"))
        shown = entry["path"]
        try:
            found = files.sha256(path)
        except FileNotFoundError:
            differences.append(Difference("file", shown, f"sha256 {entry['sha256']}", "no file"))
            continue
        except OSError as exc:  # a folder, a pipe or a device in its place; unreadable
            said = exc.strerror or type(exc).__name__
            differences.append(Difference("file", shown, f"sha256 {entry['sha256']}", said))
            continue
        if found != entry["sha256"]:
            size = path.stat().st_size
            differences.append(
                Difference(
                    "file",
                    shown,
                    f"sha256 {entry['sha256']} ({entry['bytes']:,} bytes)",
                    f"sha256 {found} ({size:,} bytes)",
                )
            )
        done()
    return differences


def table_of_contents(tool: pgdump.PgTool, folder: Path) -> list[str]:
    """`pg_restore --list` of the dump: one line per archive entry; BackupError with
    pg_restore's own words when it cannot read it."""
    done = subprocess.run(
        [str(tool.path), "--list", str(folder / files.DUMP)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BackupError("; ".join(lines[-3:]) or f"pg_restore exited with {done.returncode}")
    return [line for line in done.stdout.splitlines() if line and not line.startswith(";")]


def table_data(toc: Sequence[str], tables: Sequence[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """Each TABLE DATA entry of `toc` as (dump id, schema, table): the manifest's `tables`
    name it (`pg_restore --list` shows "public t owner", and names may hold spaces: the
    longest that fits); schema "" and the listing without its owner when none does."""
    found = []
    for line in toc:
        entry = _DATA.match(line)
        if entry is not None:
            found.append((int(entry.group(1)), *_named(entry.group(2), tables)))
    return found


def _named(listed: str, tables: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """A fit that leaves an owner after it wins over one that does not: `calls` owned by
    postgres is listed "public calls postgres", which "public.calls postgres" fits too."""
    fits = []
    for t in tables:
        shown = f"{_one_line(t['schema'])} {_one_line(t['name'])} "
        if f"{listed} ".startswith(shown):
            fits.append((len(shown) <= len(listed), len(shown), (t["schema"], t["name"])))
    if fits:
        return max(fits)[2]
    return "", listed.rsplit(" ", 1)[0]


def _one_line(name: str) -> str:
    """A name as `pg_restore --list` shows it: a line break in it is a space."""
    return name.replace("\r", " ").replace("\n", " ")


def data_entries(toc: list[str]) -> int:
    """How many tables' rows the archive holds."""
    return sum(1 for line in toc if " TABLE DATA " in line)


def pg_restore(bindir: str | None, dumped: str) -> pgdump.PgTool:
    """A pg_restore that can read a dump pg_dump `dumped` ("15.8") wrote: at least its
    major version."""
    major = int(dumped.split(".")[0]) if dumped.split(".")[0].isdigit() else 0
    return pgdump.choose(
        major,
        pgdump.candidates(bindir, "pg_restore"),
        program="pg_restore",
        because=f"the backup was written by pg_dump {visible(dumped)}",
    )
