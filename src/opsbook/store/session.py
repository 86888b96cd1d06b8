"""The Store: one engine, migrated on first use, handing out short transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, exc
from sqlalchemy.orm import Session, sessionmaker

from opsbook.store.engine import READ_ONLY, WAIT_MS, is_locked, make_engine
from opsbook.store.migrate import upgrade as apply_migrations
from opsbook.store.turns import Patience, Turns, Wait

LOCK_SLICE = 0.25  # seconds one attempt at SQLite's write lock may wait (see _begun)


class Store:
    """`waiting`, when given, makes this a person's store (a CLI command): its units of work
    go before a bulk writer's next chunk, and wait for the store as `waiting` says (see
    turns.py)."""

    def __init__(self, engine: Engine, *, waiting: Patience | None = None) -> None:
        self.engine = engine
        # Handed to every writing session as `session.info`: how a domain learns, inside
        # the writer's transaction, what another wrote (incidents.hooks).
        self.info: dict[str, Any] = {}
        self._sessions = sessionmaker(engine, expire_on_commit=False, info=self.info)
        self._readers = sessionmaker(engine.execution_options(**{READ_ONLY: True}))
        sqlite = engine.dialect.name == "sqlite"
        self._turns = Turns(engine.url.database if sqlite else None)
        self._waiting = waiting if sqlite else None
        # Units of work committed: when the store fails, a command can say truthfully
        # whether it changed nothing or stopped after earlier changes.
        self.committed = 0

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        if self._waiting is None:
            with self._sessions() as session, session.begin():
                yield session
        else:
            wait = Wait(self._waiting)
            with self._turns.person(wait), self._begun(wait) as session:
                yield session
                session.commit()
        self.committed += 1

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A unit of work that only reads: on SQLite it takes no write lock, so it answers
        while another process writes (it sees the last commit). Rolled back at the end."""
        with self._readers() as session:  # closing it rolls back, and keeps what it read
            yield session

    def give_way(self) -> None:
        """A bulk writer, between its transactions: let a person's waiting command go first."""
        self._turns.give_way()

    def close(self) -> None:
        self.engine.dispose()

    def _begun(self, wait: Wait) -> Session:
        """A session holding the write lock: quiet attempts, then (said) more up to the bound.
        BEGIN is the only statement that waits: IMMEDIATE takes the lock up front. Each
        attempt waits at most LOCK_SLICE: SQLite's wait is C code that a Ctrl-C cannot
        stop, so the person's Ctrl-C is heard between attempts, not after the bound."""
        while True:
            session = self._sessions()
            session.begin()
            try:
                slice_ms = round(min(wait.left(), LOCK_SLICE) * 1000)
                session.connection(execution_options={WAIT_MS: slice_ms})
                return session
            except exc.OperationalError as error:
                session.close()
                if not is_locked(error):
                    raise
                if wait.left() > 0:
                    continue
                if wait.said:
                    raise
                wait.say()


def open_store(
    url: str,
    *,
    base_dir: Path | None = None,
    upgrade: bool = True,
    waiting: Patience | None = None,
) -> Store:
    """Open the store and apply pending migrations (first use needs no separate step).
    `waiting`: a person's command (see Store)."""
    engine = make_engine(url, base_dir=base_dir)
    if upgrade:
        apply_migrations(engine)
    return Store(engine, waiting=waiting)
