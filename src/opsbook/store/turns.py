"""A person's command goes first: on a SQLite store it waits for at most the chunk of bulk
work under way, says so when it waits, and gives up only after a bound.

SQLite has one write lock per database and its waiters poll for it (busy_timeout) rather
than queue. A writer that commits and begins again at once, like the Alertmanager receiver
working through 8,000 alerts a few hundred per transaction, can win every poll; issue #12
saw `incident open --sev P0` fail with "database is locked" after 31 s of that. So a
person's unit of work holds an exclusive flock on a file beside the database while it
waits and writes, and a bulk writer takes and drops a shared one before each chunk: that
blocks while a person holds the file, so the person waits for one chunk, not the burst.
PostgreSQL needs none of this: it has no store-wide write lock, and its lock queues are fair.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

from opsbook.store.engine import StoreUnavailable

QUIET = 1.0  # seconds a person's command waits before it says it is waiting
LIMIT = 120.0  # seconds it waits in all before it gives up ("database is locked")
_POLL = 0.02  # how often the file lock is tried: another command holds it for milliseconds


@dataclass(frozen=True)
class Patience:
    """How a person's command waits for the store: `notice` is called once it has waited
    `quiet` seconds; it gives up after `limit`. Real seconds, not the domain's clock: it is
    another process that is being waited for."""

    notice: Callable[[], None]
    quiet: float = QUIET
    limit: float = LIMIT
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Wait:
    """One unit of work's wait for the store: quiet at first, then said once, then bounded."""

    patience: Patience
    started: float = field(default_factory=time.monotonic)
    said: bool = False

    @property
    def limit(self) -> float:
        return self.patience.limit

    def left(self) -> float:
        """Seconds before the wait gives up, or before it must speak while still quiet."""
        bound = self.limit if self.said else min(self.patience.quiet, self.limit)
        return max(0.0, bound - (time.monotonic() - self.started))

    def say(self) -> None:
        if not self.said:
            self.said = True
            self.patience.notice()


class Turns:
    """The priority file of one SQLite store (none for PostgreSQL or `:memory:`)."""

    def __init__(self, database: str | None) -> None:
        self.path = f"{database}.priority.lock" if database and database != ":memory:" else None
        self._guard = threading.Lock()
        self._held = 0
        self._handle: IO[str] | None = None

    @contextmanager
    def person(self, wait: Wait) -> Iterator[None]:
        """The store is a person's next. Shared by the process's threads and re-entrant: two
        units of work of one command must not lock each other out, as they never did."""
        if self.path is None:
            yield
            return
        with self._guard:
            if self._held == 0:
                self._handle = self._exclusive(wait)
            self._held += 1
        try:
            yield
        finally:
            with self._guard:
                self._held -= 1
                if self._held == 0 and self._handle is not None:
                    self._handle.close()  # closing the file drops its lock
                    self._handle = None

    def give_way(self) -> None:
        """Wait while a person's command holds the store or waits for it (a bulk writer
        calls this between its chunks)."""
        if self.path is None:
            return
        with _open(self.path) as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)

    def _exclusive(self, wait: Wait) -> IO[str]:
        """The file locked for this person, polled so that the wait stays bounded: another
        person's command may hold it, and flock itself cannot time out."""
        assert self.path is not None
        handle = _open(self.path)
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return handle
            except BlockingIOError:
                if wait.left() <= 0:
                    if wait.said:
                        handle.close()
                        raise StoreUnavailable(
                            f"database is locked: another opsbook command held it for "
                            f"{wait.limit:g} s"
                        ) from None
                    wait.say()
                wait.patience.sleep(_POLL)


def _open(path: str) -> IO[str]:
    try:
        return open(path, "a")  # the callers close it
    except OSError as error:
        raise StoreUnavailable(f"cannot write {path}: {error.strerror}") from None
