"""The Store: one engine, migrated on first use, handing out short transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from opsbook.store.engine import make_engine
from opsbook.store.migrate import upgrade as apply_migrations


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # Units of work committed: when the store fails, a command can say truthfully
        # whether it changed nothing or stopped after earlier changes.
        self.committed = 0

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self._sessions() as session, session.begin():
            yield session
        self.committed += 1

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, base_dir: Path | None = None, upgrade: bool = True) -> Store:
    """Open the store and apply pending migrations (first use needs no separate step)."""
    engine = make_engine(url, base_dir=base_dir)
    if upgrade:
        apply_migrations(engine)
    return Store(engine)
