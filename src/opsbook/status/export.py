"""The status page as static files that outlive opsbook: `opsbook status export DIR`.

DIR gets index.html, history/N.html, incidents/ID.html, history.atom, status.css and the
Statuspage v2 documents under api/v2/, linked relatively, so nginx, S3 or a browser opening
the files from disk shows the same page from any path.

A re-export is atomic: the site is written into a temporary directory beside DIR, then
the two are exchanged in one `renameat2(RENAME_EXCHANGE)` (Linux 3.15+) and the old copy
is removed, so a reader sees the old site or the new one, never half of each, and a
process killed mid-export leaves the old site whole (plus a temporary directory the next
export removes). Where the kernel cannot exchange, the old site is renamed away and the
new one in: a reader may then miss the site for the moment between two renames.

DIR is refused when it is a file, a symbolic link, not writable, holds the store or the
config, or already holds files that are not an export (the marker file says so): an export
replaces DIR whole, and must never replace someone's home directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import fcntl
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from opsbook.config import Config
from opsbook.status import public, site, statuspage
from opsbook.status.pages import CSS, Static
from opsbook.status.view import IncidentView, PublicView
from opsbook.store import Store

MARKER = ".opsbook-status-export"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class ExportError(ValueError):
    """A refusal naming DIR and why; nothing was changed."""


@dataclass(frozen=True)
class Exported:
    path: Path
    files: int
    bytes: int
    incidents: int
    history_pages: int
    exchanged: bool  # one atomic exchange (else: two renames)


def export(
    *,
    store: Store,
    config: Config,
    target: Path,
    now: dt.datetime,
    protected: tuple[Path, ...] = (),
) -> Exported:
    """Write the public site into `target`, replacing a previous export atomically.
    `protected` are files DIR must not hold (the config file)."""
    target = Path(os.path.abspath(target))
    _refuse(target, (*protected, *_store_files(store)))
    with store.reading() as session:
        view = public.build(session, config=config, now=now)
        pages = public.history_pages(session, view=view)
        files, incidents = site_files(session, config=config, view=view, pages=pages)
    with _locked(target):
        _refuse(target, ())  # again, under the lock: another export may have just run
        exchanged = _replace(target, files)
    return Exported(
        target, len(files), sum(len(b) for b in files.values()), incidents, pages, exchanged
    )


def site_files(
    session: Session, *, config: Config, view: PublicView, pages: int
) -> tuple[dict[str, bytes], int]:
    """Every file of the site by relative path, and how many incident pages it has."""
    top, below = Static(0), Static(1)
    files = {
        "index.html": site.index(view, top, pages=pages).body,
        "history.atom": site.feed(view, top).body,
        CSS: site.css().body,
        MARKER: b"An opsbook status export: `opsbook status export` replaces this directory.\n",
    }
    files |= {f"api/v2/{path}": body for path, body in statuspage.encoded(view).items()}
    shown: dict[str, IncidentView] = {m.id: m for m in view.maintenances}
    for page in range(1, pages + 1):
        incidents = public.history(session, config=config, view=view, page=page)
        html = site.history_page(
            session, config=config, view=view, links=below, page=page, pages=pages
        )
        assert html is not None
        files[f"history/{page}.html"] = html.body
        shown |= {i.id: i for i in incidents}
    for incident in shown.values():
        files[f"incidents/{incident.id}.html"] = site.incident_page(view, below, incident).body
    return files, len(shown)


# --- the directory ---------------------------------------------------------------------------


def _store_files(store: Store) -> tuple[Path, ...]:
    url = store.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return (Path(os.path.abspath(url.database)),)
    return ()


def _refuse(target: Path, protected: tuple[Path, ...]) -> None:
    parent = target.parent
    if target == parent:
        raise ExportError(f"{target} is the root directory: export into a directory of its own")
    if target.is_symlink():
        raise ExportError(f"{target} is a symbolic link: give the directory it points to")
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} is a file, not a directory")
    if not parent.is_dir():
        raise ExportError(f"{parent} does not exist or is not a directory (create it first)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write in {parent} (the export is written beside {target})")
    for path in protected:
        if path == target or target in Path(os.path.abspath(path)).parents:
            raise ExportError(f"{target} holds {path}: an export replaces the whole directory")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).is_file():
        raise ExportError(
            f"{target} holds files that are not a status export (no {MARKER}): an export "
            "replaces the whole directory, so give an empty or new one"
        )


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """One export of DIR at a time; leftovers of a killed one are removed under the lock."""
    lock = target.parent / f".{target.name}.lock"
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExportError(f"another export of {target} is under way") from None
        # DIR's name taken literally: `*` must not match every other export's work.
        for stale in target.parent.glob(f".{glob.escape(target.name)}.new-*"):
            shutil.rmtree(stale, ignore_errors=True)
        yield


def _replace(target: Path, files: dict[str, bytes]) -> bool:
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        _write(temp, files)
        if not target.exists():
            os.rename(temp, target)
            return True
        if _exchange(temp, target):
            shutil.rmtree(temp)  # now the old site
            return True
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
        os.rename(target, old / "site")
        os.rename(temp, target)
        shutil.rmtree(old)
        return False
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _write(root: Path, files: dict[str, bytes]) -> None:
    os.chmod(root, 0o755)  # mkdtemp's 0700 would hide the site from the web server's user
    for relative, body in sorted(files.items()):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        with open(path, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(path, 0o644)
    # The files are on disk before the name points at them (a crash after the exchange
    # must not leave the new name over empty files).
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one step; False where the kernel or libc cannot."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    done = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(done == 0)
