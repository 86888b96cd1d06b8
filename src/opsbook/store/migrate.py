"""Apply opsbook's own schema migrations, safely when several processes start at once."""

from __future__ import annotations

import fcntl
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from opsbook.store.engine import READ_ONLY, StoreUnavailable

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

_MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary, fixed key: every opsbook process sharing a PostgreSQL store agrees on it.
_PG_LOCK_KEY = 0x0B5B00C


def _alembic_config(connection: Connection | None = None) -> AlembicConfig:
    # Alembic (and Mako under it) is imported only to migrate: every command opens the
    # store, and a store already at the newest schema needs neither.
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def head_revision() -> str:
    """The newest migration: the highest numbered file, whose revision is its number.
    Alembic's ScriptDirectory would read every script (~0.1 s, and Mako) on every command;
    tests/store/test_store.py holds this to alembic's own answer."""
    numbers = (path.name.split("_", 1)[0] for path in (_MIGRATIONS / "versions").glob("*_*.py"))
    return max(number for number in numbers if number.isdigit())


def current_revision(engine: Engine) -> str | None:
    """What alembic_version says (None: an empty store), read as alembic reads it."""
    # A read: every command opens the store through here, and on SQLite a read waits for
    # no writer (an alert burst being stored must not hold up `incident open`).
    with engine.execution_options(**{READ_ONLY: True}).connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    if len(rows) > 1:
        raise StoreUnavailable(f"the store has {len(rows)} schema revisions; it needs one")
    return rows[0][0] if rows else None


def pending(engine: Engine) -> bool:
    return current_revision(engine) != head_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the store to the newest schema; returns (before, after) revisions."""
    with _exclusive(engine):  # one migrator: what it read stays true until it writes
        before = current_revision(engine)
        if before != head_revision():
            from alembic import command

            with engine.connect() as connection:
                command.upgrade(_alembic_config(connection), "head")
                connection.commit()
        return before, head_revision()


@contextmanager
def _exclusive(engine: Engine) -> Iterator[None]:
    """One migrator at a time: an advisory lock on PostgreSQL, a lock file beside SQLite."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as lock_connection:
            lock_connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            try:
                yield
            finally:
                lock_connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                lock_connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    lock = f"{database}.migrate.lock"
    try:
        handle = open(lock, "w")  # noqa: SIM115 (the with below closes it)
    except OSError as error:
        raise StoreUnavailable(f"cannot write {lock}: {error.strerror}") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
