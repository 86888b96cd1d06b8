"""A database's schema as data, read from pg_catalog, and the differences between two.

A drill proves a restore brought back more than rows: tables, columns (type, default,
nullability), indexes, constraints, views, materialized views, functions, triggers,
sequences and their values, types and extensions. Each kind is one bounded query
(`postgres/queries/catalog_*.sql`); names come back quoted as identifiers (`format %I`)
and stay data throughout, so a hostile name is compared and shown, never run.

Not compared: owners and privileges (a drill restores with `--no-owner --no-privileges`,
like a deep verify, since the roles of production need not exist where it restores),
comments, statistics, and column positions (see catalog_columns.sql).

Sequences are not transactional: a value read inside the backup's snapshot is the value
of the moment it was read, and pg_dump reads its own a moment later. So a backup records
each sequence's value before pg_dump starts and again after it ends (`sequence_values`),
and a restored value passes when it lies between the two (equal to both when nothing
wrote meanwhile).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from opsbook.console import visible
from opsbook.postgres import queries

# kind -> name -> attribute -> value (JSON): what a manifest records and a drill compares.
Description = dict[str, dict[str, dict[str, Any]]]

_RELATIONS = {
    "r": "table",
    "p": "table",
    "f": "foreign table",
    "v": "view",
    "m": "materialized view",
}
_QUERIES = {
    "schema": "catalog_schemas",
    "extension": "catalog_extensions",
    "type": "catalog_types",
    "column": "catalog_columns",
    "index": "catalog_indexes",
    "constraint": "catalog_constraints",
    "function": "catalog_functions",
    "trigger": "catalog_triggers",
    "sequence": "catalog_sequences",
}
# The order a report names them in.
KINDS = (
    "schema",
    "extension",
    "type",
    "table",
    "foreign table",
    "column",
    "view",
    "materialized view",
    "index",
    "constraint",
    "function",
    "trigger",
    "sequence",
)
SHOWN = 120


@dataclass(frozen=True)
class SchemaDifference:
    kind: str
    name: str
    what: str  # "missing in restore", "type integer vs bigint"

    def text(self) -> str:
        return f"{self.kind} {visible(self.name)}: {self.what}"


def describe(conn: psycopg.Connection[Any]) -> Description:
    """The database's schema as `conn` sees it (inside a snapshot when it has one open)."""
    described: Description = {kind: {} for kind in KINDS}
    for row in queries.rows(conn, "catalog_relations"):
        name, relkind = row.pop("name"), row.pop("relkind")
        described[_RELATIONS[relkind]][name] = {**row, "partitioned": relkind == "p"}
    for kind, query in _QUERIES.items():
        for row in queries.rows(conn, query):
            described[kind][row.pop("name")] = row
    return described


def sequence_values(conn: psycopg.Connection[Any]) -> dict[str, int | None]:
    """Each sequence's last value as of now (see the module's docstring)."""
    return {row["name"]: row["last_value"] for row in queries.rows(conn, "catalog_sequences")}


def diff(
    source: Description,
    restored: Description,
    *,
    values: bool = True,
    sequences_after: Mapping[str, int | None] | None = None,
) -> list[SchemaDifference]:
    """What differs between the source's schema and the restored one, each named. With
    `values` False sequence values are not compared; with `sequences_after`, a restored
    value passes anywhere between the source's (before) and that (after)."""
    found: list[SchemaDifference] = []
    for kind in KINDS:
        ours, theirs = source.get(kind, {}), restored.get(kind, {})
        for name in sorted(ours.keys() - theirs.keys()):
            found.append(SchemaDifference(kind, name, "missing in restore"))
        for name in sorted(theirs.keys() - ours.keys()):
            found.append(SchemaDifference(kind, name, "not in the source"))
        for name in sorted(ours.keys() & theirs.keys()):
            bounded = sequences_after is not None and name in sequences_after
            after = sequences_after.get(name) if sequences_after is not None else None
            found += _attributes(kind, name, ours[name], theirs[name], values, bounded, after)
    return found


def _attributes(
    kind: str,
    name: str,
    ours: dict[str, Any],
    theirs: dict[str, Any],
    values: bool,
    bounded: bool,
    after: int | None,
) -> list[SchemaDifference]:
    found = []
    for key in sorted(ours.keys() | theirs.keys()):
        was, now = ours.get(key), theirs.get(key)
        if kind == "sequence" and key == "last_value":
            if not values or (bounded and _between(was, now, after, ours.get("increment", 1))):
                continue
            if bounded and was != after:
                what = f"{_shown(now)}, outside {_shown(was)}..{_shown(after)} (while dumped)"
                found.append(SchemaDifference(kind, name, what))
                continue
        if was != now:
            label = "" if kind == "sequence" and key == "last_value" else f"{key} "
            found.append(SchemaDifference(kind, name, f"{label}{_shown(was)} vs {_shown(now)}"))
    return found


def _between(before: int | None, value: int | None, after: int | None, increment: int) -> bool:
    """Whether `value` lies from `before` to `after` in the sequence's direction; None
    (nothing handed out yet) comes first."""

    def rank(v: int | None) -> tuple[int, int]:
        return (0, 0) if v is None else (1, v if increment >= 0 else -v)

    return rank(before) <= rank(value) <= rank(after)


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    text = visible(str(value))
    return text if len(text) <= SHOWN else text[:SHOWN] + "..."
