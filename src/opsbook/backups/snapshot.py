"""The snapshot a backup is taken of, held open while pg_dump reads it.

One transaction, REPEATABLE READ READ ONLY, exports its snapshot; pg_dump is started
with `--snapshot` of it, and the row counts (and content checksums) are read inside the
same transaction. Both see the very same rows however much the app writes meanwhile.
The snapshot stays importable only while this transaction is open, so it is closed after
pg_dump (and each of its -j workers) has finished.

Content checksum: the sum, modulo 2^64, of `hashtextextended(row::text, 0)` over the
table's rows. It is one sequential scan in constant memory, needs no primary key and no
sort, and does not depend on the rows' physical order (a restore reorders them), where an
md5 of `string_agg` in key order would sort the table and build one value that fails
past 1 GB. The text form of a row depends on a few settings, so the transaction fixes
them (SETTINGS) and the manifest records them for a later verify.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from opsbook.backups.errors import BackupError
from opsbook.config.secrets import mask_text
from opsbook.postgres import queries

CHECKSUM_METHOD = "sum of hashtextextended(row::text, 0) mod 2^64, hex"
SETTINGS = {
    "DateStyle": "ISO, YMD",
    "TimeZone": "UTC",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "bytea_output": "hex",
}


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    estimate: int


@dataclass(frozen=True)
class Counted:
    schema: str
    name: str
    rows: int
    checksum: str | None = None
    # Why a checksum asked for was not taken.
    checksum_skipped: str | None = None


class Snapshot:
    """An open, exported snapshot of the target database. Close it when pg_dump is done."""

    def __init__(self, url: str, *, lock_wait_ms: int) -> None:
        try:
            self.conn = queries.connect(url)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise BackupError(
                f"cannot connect to the target database: {mask_text(first, [url])}"
            ) from None
        try:
            self.conn.execute("begin isolation level repeatable read read only")
            for name, value in SETTINGS.items():
                self.conn.execute("select set_config(%s, %s, true)", (name, value))
            # Our counting scans take ACCESS SHARE locks like pg_dump's: never wait long
            # behind a DDL statement's lock (the app's queries would queue behind us).
            self.conn.execute("select set_config('lock_timeout', %s, true)", (f"{lock_wait_ms}ms",))
            row = self.conn.execute(
                "select pg_export_snapshot(), current_database(),"
                " current_setting('server_version'), current_setting('server_version_num')::int"
            ).fetchone()
            assert row is not None
            self.id: str = row[0]
            self.database: str = row[1]
            self.server_version: str = str(row[2]).split()[0]
            self.server_major: int = int(row[3]) // 10000
        except BaseException:
            self.conn.close()
            raise

    def tables(self) -> list[Table]:
        return [Table(**row) for row in queries.rows(self.conn, "backup_tables")]

    def count(
        self,
        tables: list[Table],
        *,
        checksums: bool,
        max_rows: int,
        done: Callable[[Counted], None] = lambda _: None,
    ) -> list[Counted]:
        """Each table's rows (and checksum), as this snapshot sees them."""
        counted = []
        for table in tables:
            counted.append(self._count(table, checksums=checksums, max_rows=max_rows))
            done(counted[-1])
        return counted

    def _count(self, table: Table, *, checksums: bool, max_rows: int) -> Counted:
        name = sql.Identifier(table.schema, table.name)
        if checksums and table.estimate <= max_rows:
            query = sql.SQL(
                "select count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)"
                " from {} as t"
            ).format(name)
            rows, total = self._one(query)
            return Counted(table.schema, table.name, int(rows), f"{int(total) % 2**64:016x}")
        rows, *_ = self._one(sql.SQL("select count(*) from {}").format(name))
        skipped = (
            f"about {table.estimate:,} rows, over backups.checksum_max_rows ({max_rows:,})"
            if checksums
            else None
        )
        return Counted(table.schema, table.name, int(rows), checksum_skipped=skipped)

    def _one(self, query: sql.Composed) -> tuple[Any, ...]:
        row = self.conn.execute(query).fetchone()
        assert row is not None
        return tuple(row)

    def close(self) -> None:
        if not self.conn.closed:
            self.conn.close()  # ends the transaction: the snapshot is no longer importable
