"""Migrations of the target database, recorded exactly as the Supabase CLI records them:
`supabase_migrations.schema_migrations (version text primary key, statements text[],
name text)`, version being the timestamp prefix of `20250929120000_add_index.sql`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from opsbook.postgres.errors import PostgresError, Stopped
from opsbook.postgres.statements import split_statements

_NAME = re.compile(r"^(\d{14})_([A-Za-z0-9_\-]+)\.sql$")

RECORD_TABLE = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
    version text primary key,
    statements text[],
    name text
);
"""


class MigrationError(PostgresError):
    """The migrations folder cannot be read as migrations; nothing was applied."""


@dataclass(frozen=True)
class MigrationFile:
    version: str
    name: str
    path: Path

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"


@dataclass(frozen=True)
class Applied:
    """A migration the database records as applied."""

    version: str
    name: str
    statements: int

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"


@dataclass(frozen=True)
class Status:
    applied: list[Applied]
    pending: list[MigrationFile]
    missing_files: list[str]


class MigrationFailed(Stopped):
    """One migration failed and was rolled back; those before it stay applied (`applied`)."""

    def __init__(self, migration: MigrationFile, index: int, statement: str, error: str) -> None:
        first = statement.strip().splitlines()[0][:80] if statement.strip() else ""
        super().__init__(
            f"{migration.label} failed at statement {index + 1} ({first!r}): "
            f"{error}; it was rolled back"
        )
        self.migration = migration
        self.applied: list[str] = []


def migration_files(directory: Path) -> list[MigrationFile]:
    """The folder's `<version>_<name>.sql` files in version order; MigrationError otherwise."""
    if not directory.is_dir():
        raise MigrationError(f"{directory} is not a directory of migrations")
    found: list[MigrationFile] = []
    bad: list[str] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            bad.append(path.name)
            continue
        version = match.group(1)
        if version in seen:
            raise MigrationError(f"{path.name} and {seen[version]} share version {version}")
        seen[version] = path.name
        found.append(MigrationFile(version, match.group(2), path))
    if bad:
        raise MigrationError(
            f"{', '.join(bad)}: migration files are named"
            " <14-digit timestamp>_<name>.sql, e.g. 20250929120000_add_index.sql"
        )
    return found


def applied(conn: psycopg.Connection[Any]) -> list[Applied]:
    """What `supabase_migrations.schema_migrations` records, by version (none without it)."""
    exists = conn.execute(
        "select to_regclass('supabase_migrations.schema_migrations') is not null"
    ).fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute(
        "select version, name, coalesce(array_length(statements, 1), 0)"
        " from supabase_migrations.schema_migrations order by version"
    ).fetchall()
    return [Applied(r[0], r[1], r[2]) for r in rows]


def status(conn: psycopg.Connection[Any], directory: Path) -> Status:
    """Applied against pending, and applied versions whose file is gone."""
    files = migration_files(directory)
    done = applied(conn)
    versions = {r.version for r in done}
    on_disk = {f.version for f in files}
    return Status(
        done,
        [f for f in files if f.version not in versions],
        [r.label for r in done if r.version not in on_disk],
    )


def apply_one(conn: psycopg.Connection[Any], migration: MigrationFile) -> int:
    """One migration, in one transaction, recorded with its statements; all or nothing."""
    statements = split_statements(migration.path.read_text())
    conn.execute(RECORD_TABLE)
    with conn.transaction():
        for index, statement in enumerate(statements):
            try:
                with conn.transaction():
                    conn.execute(statement.encode())
            except psycopg.Error as exc:
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise MigrationFailed(migration, index, statement, message) from None
        conn.execute(
            "insert into supabase_migrations.schema_migrations (version, statements, name)"
            " values (%s, %s, %s)",
            (migration.version, statements, migration.name),
        )
    return len(statements)


def apply_pending(url: str, directory: Path) -> list[str]:
    """Apply every pending migration in version order; returns the versions applied."""
    done = []
    with psycopg.connect(url, autocommit=True, application_name="opsbook") as conn:
        for migration in status(conn, directory).pending:
            apply_one(conn, migration)
            done.append(migration.version)
    return done
