"""Materialized views: list them, refresh them without blocking readers when possible."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from opsbook.postgres import queries


class ViewError(ValueError):
    pass


@dataclass(frozen=True)
class Refreshed:
    view: str
    concurrently: bool
    seconds: float
    why_not: str | None


def listing(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    return queries.rows(conn, "materialized_views")


def why_not_concurrently(view: dict[str, Any]) -> str | None:
    if not view["populated"]:
        return "it has never been populated (CONCURRENTLY needs existing data)"
    if not view["unique_index"]:
        return (
            "it has no unique index on plain columns, so readers wait while it refreshes;"
            " add one to refresh CONCURRENTLY"
        )
    return None


def resolve(conn: psycopg.Connection[Any], names: list[str]) -> list[dict[str, Any]]:
    """The views to refresh (all when none is named); an unknown name refuses them all."""
    views = {f"{v['schema']}.{v['name']}": v for v in listing(conn)}
    short = {v["name"]: key for key, v in views.items()}
    chosen = []
    for name in names or list(views):
        key = name if name in views else short.get(name)
        if key is None:
            known = ", ".join(sorted(views)) or "none"
            raise ViewError(f"no materialized view {name!r} (known: {known})")
        chosen.append(views[key])
    return chosen


def refresh_one(conn: psycopg.Connection[Any], view: dict[str, Any]) -> Refreshed:
    why_not = why_not_concurrently(view)
    ident = sql.Identifier(view["schema"], view["name"])
    statement = (
        sql.SQL("refresh materialized view concurrently {}")
        if why_not is None
        else sql.SQL("refresh materialized view {}")
    ).format(ident)
    started = time.monotonic()
    conn.execute(statement)
    return Refreshed(
        f"{view['schema']}.{view['name']}", why_not is None, time.monotonic() - started, why_not
    )


def call_function(conn: psycopg.Connection[Any], name: str) -> float:
    schema, _, function = name.rpartition(".")
    schema = schema or "public"
    if not queries.one(conn, "function_exists", {"schema": schema, "name": function}):
        raise ViewError(f"no function {schema}.{function}() taking no arguments")
    started = time.monotonic()
    conn.execute(sql.SQL("select {}()").format(sql.Identifier(schema, function)))
    return time.monotonic() - started
