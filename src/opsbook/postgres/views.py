"""Materialized views: list them, refresh them without blocking readers when possible."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from opsbook.postgres import queries
from opsbook.postgres.errors import PostgresError


class ViewError(PostgresError):
    """An unknown view or function: nothing was refreshed."""


@dataclass(frozen=True)
class MaterializedView:
    """A materialized view as `materialized_views.sql` reads it."""

    schema: str
    name: str
    bytes: int
    populated: bool
    unique_index: bool

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def why_not_concurrently(self) -> str | None:
        """Why REFRESH ... CONCURRENTLY cannot be used, or None when it can."""
        if not self.populated:
            return "it has never been populated (CONCURRENTLY needs existing data)"
        if not self.unique_index:
            return (
                "it has no unique index on plain columns, so readers wait while it refreshes;"
                " add one to refresh CONCURRENTLY"
            )
        return None


@dataclass(frozen=True)
class Refreshed:
    view: str
    concurrently: bool
    seconds: float
    why_not: str | None


def listing(conn: psycopg.Connection[Any]) -> list[MaterializedView]:
    """Every materialized view, by schema and name."""
    return queries.fetch(conn, "materialized_views", MaterializedView)


def resolve(conn: psycopg.Connection[Any], names: list[str]) -> list[MaterializedView]:
    """The views to refresh (all when none is named); an unknown name refuses them all."""
    views = {v.qualified: v for v in listing(conn)}
    short = {v.name: key for key, v in views.items()}
    chosen = []
    for name in names or list(views):
        key = name if name in views else short.get(name)
        if key is None:
            known = ", ".join(sorted(views)) or "none"
            raise ViewError(f"no materialized view {name!r} (known: {known})")
        chosen.append(views[key])
    return chosen


def refresh_one(conn: psycopg.Connection[Any], view: MaterializedView) -> Refreshed:
    """REFRESH one view, CONCURRENTLY when its data and a unique index allow it."""
    why_not = view.why_not_concurrently
    ident = sql.Identifier(view.schema, view.name)
    statement = (
        sql.SQL("refresh materialized view concurrently {}")
        if why_not is None
        else sql.SQL("refresh materialized view {}")
    ).format(ident)
    started = time.monotonic()
    conn.execute(statement)
    return Refreshed(view.qualified, why_not is None, time.monotonic() - started, why_not)


def function(conn: psycopg.Connection[Any], name: str) -> tuple[str, str]:
    """(schema, function) of a function taking no arguments; ViewError when there is none."""
    schema, _, function = name.rpartition(".")
    schema = schema or "public"
    if not queries.one(conn, "function_exists", {"schema": schema, "name": function}):
        raise ViewError(f"no function {schema}.{function}() taking no arguments")
    return schema, function


def call_function(conn: psycopg.Connection[Any], name: str) -> float:
    """Call a function that refreshes views (no arguments); the seconds it took."""
    schema, name = function(conn, name)
    started = time.monotonic()
    conn.execute(sql.SQL("select {}()").format(sql.Identifier(schema, name)))
    return time.monotonic() - started
