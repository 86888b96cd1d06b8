"""Online archival: move old rows to an archive table in batches, without losing any.

The seed's recipe (INSERT..SELECT, then DELETE, then VACUUM FULL) can lose or duplicate
rows that change between its two statements, and VACUUM FULL locks the table for the
whole rewrite. Here each batch is ONE statement,

    WITH moved AS (DELETE FROM src WHERE <at most N old rows> RETURNING *)
    INSERT INTO archive SELECT * FROM moved

so a row is in exactly one of the two tables whenever the process stops. Batches run
under a lock_timeout, skip rows the app has locked, and wait while replicas lag or
sessions queue on locks. Running it again continues where it stopped.
The plan is checked and made here; archive_run moves the rows.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from opsbook.postgres import queries
from opsbook.postgres.errors import Named, PostgresError, Stopped

TIME_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")


class ArchiveError(PostgresError):
    """The archival cannot start as asked; nothing was changed."""


class StillLocked(Stopped):
    """Rows left to move stayed locked by the app; what moved is archived, run again later."""


TABLE = Named("table", "the table")
TO = Named("to", "the archive table")


@dataclass(frozen=True)
class TableRef:
    schema: str
    name: str

    @classmethod
    def parse(cls, text: str, *, what: Named) -> TableRef:
        """`table` (in public) or `schema.table`; `what` says which input it came from."""
        parts = text.split(".")
        if len(parts) > 2 or not all(parts):
            raise ArchiveError(what, f" {text!r} is not a table name (use table or schema.table)")
        return cls(*parts) if len(parts) == 2 else cls("public", parts[0])

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Referencing:
    table: TableRef
    constraint: str
    columns: list[str]
    referenced: list[str]
    archive: TableRef
    create_archive: bool


@dataclass
class ArchivePlan:
    source: TableRef
    archive: TableRef
    create_archive: bool
    column: str
    key: list[str]
    cutoff: dt.datetime
    candidates: int
    referencing: list[Referencing] = field(default_factory=list)
    # The table to sweep in physical order: a plain table on PostgreSQL 14+ (TID ranges).
    sweep_oid: int | None = None


@dataclass
class ArchiveResult:
    moved: int = 0
    batches: int = 0
    lock_retries: int = 0
    paused_seconds: float = 0.0
    seconds: float = 0.0


def _lookup(conn: psycopg.Connection[Any], table: TableRef) -> int | None:
    found = _kind(conn, table)
    return found[0] if found else None


def _kind(conn: psycopg.Connection[Any], table: TableRef) -> tuple[int, str] | None:
    found = queries.one(conn, "table_kind", {"schema": table.schema, "table": table.name})
    if not found:
        return None
    if found["kind"] not in ("r", "p"):
        raise ArchiveError(f"{table} is not a table")
    return int(found["oid"]), str(found["kind"])


def _columns(conn: psycopg.Connection[Any], table: TableRef) -> list[tuple[str, str]]:
    rows = queries.rows(conn, "table_columns", {"schema": table.schema, "table": table.name})
    return [(r["name"], r["type"]) for r in rows]


def _same_columns(conn: psycopg.Connection[Any], source: TableRef, target: TableRef) -> None:
    want, have = _columns(conn, source), _columns(conn, target)
    if want != have:
        missing = [f"{n} {t}" for n, t in want if (n, t) not in have]
        extra = [f"{n} {t}" for n, t in have if (n, t) not in want]
        detail = "; ".join(
            filter(
                None,
                [
                    f"missing {', '.join(missing)}" if missing else "",
                    f"not in {source}: {', '.join(extra)}" if extra else "",
                    "same columns in another order" if not missing and not extra else "",
                ],
            )
        )
        raise ArchiveError(
            f"{target} does not have the columns of {source} ({detail});"
            " archive into a table created LIKE it, or let opsbook create one"
        )


def prepare(
    conn: psycopg.Connection[Any],
    *,
    table: str,
    to: str,
    column: str,
    older_than: dt.timedelta,
    with_referencing: bool = False,
    before: dt.datetime | None = None,
) -> ArchivePlan:
    """Check everything before anything moves; raise ArchiveError with the reason.
    `before` replaces `now() - older_than` with a cutoff the caller computed once."""
    source = TableRef.parse(table, what=TABLE)
    archive = TableRef.parse(to, what=TO)
    if source == archive:
        raise ArchiveError(TABLE, " and ", TO, " name the same table")
    source_kind = _kind(conn, source)
    if source_kind is None:
        raise ArchiveError(f"unknown table {str(source)!r}")
    oid, kind = source_kind
    columns = dict(_columns(conn, source))
    if column not in columns:
        close = difflib.get_close_matches(column, list(columns), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ArchiveError(f"{source} has no column {column!r}{hint}")
    if columns[column] not in TIME_TYPES:
        raise ArchiveError(
            f"{source}.{column} is {columns[column]}, not a timestamp or date:"
            " rows are archived by age"
        )
    key = [r["name"] for r in queries.rows(conn, "primary_key", {"oid": oid})]
    if not key:
        raise ArchiveError(f"{source} has no primary key: batches need one to be exact")
    create = _lookup(conn, archive) is None
    if not create:
        _same_columns(conn, source, archive)
    referencing: list[Referencing] = []
    for ref in queries.rows(conn, "referencing_keys", {"oid": oid}):
        ref_table = TableRef(ref["schema"], ref["table"])
        ref_archive = TableRef(ref_table.schema, f"{ref_table.name}_archive")
        referencing.append(
            Referencing(
                ref_table,
                ref["constraint"],
                list(ref["columns"]),
                list(ref["referenced"]),
                ref_archive,
                _lookup(conn, ref_archive) is None,
            )
        )
    if referencing and not with_referencing:
        names = ", ".join(
            f"{r.table}({', '.join(r.columns)}) via {r.constraint}" for r in referencing
        )
        raise ArchiveError(
            f"rows of {source} are referenced by {names}: moving them would break those"
            " references. ",
            Named("with_referencing", "Archive the referencing rows with them"),
            " (into <table>_archive), or deal with them first",
        )
    for found in referencing:
        if not found.create_archive:
            _same_columns(conn, found.table, found.archive)
    cutoff = before if before is not None else _cutoff(conn, older_than)
    count = conn.execute(
        sql.SQL("select count(*) from {} where {} < %s").format(
            source.ident, sql.Identifier(column)
        ),
        (cutoff,),
    ).fetchone()
    sweep = kind == "r" and conn.info.server_version >= 140000
    return ArchivePlan(
        source,
        archive,
        create,
        column,
        key,
        cutoff,
        int(count[0]) if count else 0,
        referencing,
        oid if sweep else None,
    )


def _cutoff(conn: psycopg.Connection[Any], older_than: dt.timedelta) -> dt.datetime:
    row = conn.execute("select now() - %s::interval", (older_than,)).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def create_archives(conn: psycopg.Connection[Any], plan: ArchivePlan) -> list[str]:
    """Create missing archive tables LIKE their source, with the same primary key."""
    made = []
    pairs = [(plan.source, plan.archive, plan.create_archive)]
    pairs += [(r.table, r.archive, r.create_archive) for r in plan.referencing]
    with conn.transaction():
        for source, archive, create in pairs:
            if not create:
                continue
            conn.execute(sql.SQL("create table {} (like {})").format(archive.ident, source.ident))
            oid = _lookup(conn, source)
            key = [r["name"] for r in queries.rows(conn, "primary_key", {"oid": oid})]
            if key:
                conn.execute(
                    sql.SQL("alter table {} add primary key ({})").format(
                        archive.ident, sql.SQL(", ").join(map(sql.Identifier, key))
                    )
                )
            made.append(str(archive))
    return made


def vacuum(conn: psycopg.Connection[Any], table: TableRef, *, full: bool) -> None:
    """Plain VACUUM (ANALYZE) by default; FULL rewrites under an ACCESS EXCLUSIVE lock."""
    if full:
        conn.execute(sql.SQL("vacuum (full, analyze) {}").format(table.ident))
    else:
        conn.execute(sql.SQL("vacuum (analyze) {}").format(table.ident))
