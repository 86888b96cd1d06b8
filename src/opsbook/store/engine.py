"""Open opsbook's state store: SQLite (WAL, foreign keys) for one host, PostgreSQL for a team."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from opsbook.console import visible
from opsbook.jsonout import dumps


class StoreUrlError(ValueError):
    pass


class StoreUnavailable(Exception):
    """The store's place cannot be made (its folder is a file, or cannot be created)."""


# What the database driver raises when the store itself cannot be used: unreachable,
# cannot be opened, read-only, full, locked, not a database. Not IntegrityError,
# DataError or ProgrammingError: those are opsbook's bugs and keep their traceback.
STORE_FAILURES = (StoreUnavailable, exc.OperationalError, exc.InterfaceError)


# Execution options a unit of work passes to its connection (see _sqlite_begin): a read
# that takes no write lock, and how long one attempt waits for SQLite's write lock.
READ_ONLY = "opsbook_read_only"
WAIT_MS = "opsbook_wait_ms"


def is_locked(error: BaseException) -> bool:
    """SQLite's write lock stayed busy for the whole busy_timeout ("database is locked")."""
    cause = getattr(error, "orig", None)
    code = getattr(cause, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


def is_store_failure(error: BaseException) -> bool:
    # SQLite's "file is not a database" is a bare DatabaseError, the base of the bug kinds.
    return isinstance(error, STORE_FAILURES) or type(error) is exc.DatabaseError


def failure_reason(error: BaseException) -> str:
    """What the database said, first line only: enough to act on, no traceback."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def display_url(url: str, *, base_dir: Path | None = None) -> str:
    """The store as a person should see it: SQLite's absolute path, no driver name,
    the password masked."""
    full = make_url(normalize_url(url, base_dir=base_dir))
    return full.set(drivername=full.get_backend_name()).render_as_string(hide_password=True)


def normalize_url(url: str, *, base_dir: Path | None = None) -> str:
    """Pick our drivers and make a relative SQLite path relative to the config file."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise StoreUrlError(f"store.url {url!r} is not a database URL ({exc})") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.host:  # sqlite://x.db: the file name went where a host goes
            raise StoreUrlError(
                f"store.url {url!r}: a SQLite URL has three slashes before a relative path"
                " (sqlite:///opsbook.db) and four before an absolute one (sqlite:////var/x.db)"
            )
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).is_absolute():
            database = str((base_dir or Path.cwd()) / database)
        _utf8_path(database)
        return str(parsed.set(drivername="sqlite+pysqlite", database=database))
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise StoreUrlError(
        f"store.url uses {backend!r}; opsbook's store runs on sqlite:/// or postgresql://"
    )


def _utf8_path(path: str) -> None:
    """StoreUrlError when the SQLite file's path (a folder's name, often) holds bytes that
    are not UTF-8: SQLite and SQLAlchemy take only text."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        shown = visible(path.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        raise StoreUrlError(
            f"the store's file {shown} has a path that is not UTF-8 text: set store.url to"
            " an absolute path that is (sqlite:////var/lib/opsbook/opsbook.db)"
        ) from None


def make_engine(url: str, *, base_dir: Path | None = None) -> Engine:
    full = normalize_url(url, base_dir=base_dir)
    if full.startswith("sqlite"):
        path = make_url(full).database
        if path and path != ":memory:":
            folder = Path(path).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreUnavailable(
                    f"cannot create the folder {folder}: {error.strerror}"
                ) from None
        # NullPool: each unit of work gets its own connection, so threads never share one.
        engine = create_engine(
            full, poolclass=NullPool, connect_args={"timeout": 30}, json_serializer=dumps
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # JSON columns hold RFC 8259 JSON on both: PostgreSQL's json type refuses NaN, and
    # SQLite would keep a `NaN` no strict reader of the file could parse.
    engine = create_engine(
        full, pool_pre_ping=True, pool_size=5, max_overflow=10, json_serializer=dumps
    )
    event.listen(engine, "connect", _postgres_plans)
    event.listen(engine, "connect", _postgres_nul_free_text)
    return engine


def _postgres_nul_free_text(dbapi_connection: Any, _record: Any) -> None:
    # PostgreSQL text cannot hold NUL (SQLite's can): a NUL in a peer's alert summary or
    # a command's output would fail the whole write, and the sender would retry forever.
    # Every string opsbook stores goes through this dumper and keeps U+FFFD in its place.
    # (psycopg is imported here: a SQLite store never needs it.)
    from psycopg.adapt import Dumper, PyFormat

    base = dbapi_connection.adapters.get_dumper(str, PyFormat.TEXT)

    class NulFreeStr(Dumper):
        # psycopg's own str dumpers are C types that cannot be subclassed: wrap one.
        def __init__(self, cls: type, context: Any = None) -> None:
            super().__init__(cls, context)
            self._inner = base(cls, context)
            self.oid = self._inner.oid

        def dump(self, obj: str) -> Any:
            return self._inner.dump(obj.replace("\x00", "\ufffd"))

    dbapi_connection.adapters.register_dumper(str, NulFreeStr)


def _postgres_plans(dbapi_connection: Any, _record: Any) -> None:
    # psycopg prepares statements it runs often; a generic plan turns a batch's
    # `name IN (100 values)` into a 30 ms scan, planned with its values it is a hash probe.
    # Keep the parse saved, plan every time.
    with dbapi_connection.cursor() as cursor:
        cursor.execute("set plan_cache_mode = force_custom_plan")
    dbapi_connection.commit()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin): pysqlite's implicit
    # transactions defer locking and turn concurrent writers into "database is locked".
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    options = connection.get_execution_options()
    if options.get(READ_ONLY):
        # A deferred BEGIN that never writes: in WAL mode it reads the last commit and never
        # waits for a writer, so /healthz and `opsbook status` answer during an alert burst.
        connection.exec_driver_sql("BEGIN")
        return
    wait_ms = options.get(WAIT_MS)
    if wait_ms is not None:  # this attempt's own bound on waiting for the lock
        connection.exec_driver_sql(f"PRAGMA busy_timeout={int(wait_ms)}")
    # IMMEDIATE takes the write lock up front; a transaction that reads then writes can
    # then never deadlock against another writer, it just waits its turn (busy_timeout).
    connection.exec_driver_sql("BEGIN IMMEDIATE")
