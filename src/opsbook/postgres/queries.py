"""SQL kept in named files beside the code (pg_activity's habit), loaded once by name."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row

from opsbook.postgres.query_text import masked_row

_DIR = Path(__file__).parent / "queries"
Row = TypeVar("Row")


@functools.cache
def sql(name: str) -> str:
    """The text of `queries/<name>.sql`."""
    return (_DIR / f"{name}.sql").read_text()


def rows(
    conn: psycopg.Connection[Any], name: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The named query's rows as dicts of plain values, its parameters bound."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql(name).encode(), params or None)
        return [values(row) for row in cur.fetchall()]


def values(row: dict[str, Any]) -> dict[str, Any]:
    """A row as it may leave the database: plain values, the passwords its query text
    holds masked (query_text.py)."""
    return masked_row({k: plain(v) for k, v in row.items()})


def fetch(
    conn: psycopg.Connection[Any],
    name: str,
    row: Callable[..., Row],
    params: dict[str, Any] | None = None,
) -> list[Row]:
    """The named query's rows as typed rows: `row` is a dataclass whose fields are the
    query's columns, so a renamed column fails here, not in a decision made on it."""
    return [row(**found) for found in rows(conn, name, params)]


def one(
    conn: psycopg.Connection[Any], name: str, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The named query's first row (empty when it returns none)."""
    found = rows(conn, name, params)
    return found[0] if found else {}


def plain(value: Any) -> Any:
    """A database value as JSON: results are stored, printed and compared as data."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """opsbook's own connections say so, so that remediation never ends them."""
    return psycopg.connect(
        url, autocommit=autocommit, connect_timeout=10, application_name="opsbook"
    )
