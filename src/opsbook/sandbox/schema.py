"""Lay out the sandbox schema the way `supabase db push` would: files applied in order,
each recorded in supabase_migrations.schema_migrations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

from opsbook.postgres.statements import split_statements

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_RECORD_TABLE = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
    version text primary key,
    statements text[],
    name text
);
"""


@dataclass(frozen=True)
class MigrationFile:
    version: str
    name: str
    path: Path

    @classmethod
    def from_path(cls, path: Path) -> MigrationFile:
        version, _, name = path.stem.partition("_")
        return cls(version=version, name=name, path=path)


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[MigrationFile]:
    return sorted(
        (MigrationFile.from_path(p) for p in directory.glob("*.sql")), key=lambda m: m.version
    )


def apply_schema(conninfo: str) -> list[str]:
    """Apply the migrations not yet recorded; returns the versions applied now."""
    applied: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(_RECORD_TABLE)
        done = {
            row[0]
            for row in conn.execute("select version from supabase_migrations.schema_migrations")
        }
        for migration in migration_files():
            if migration.version in done:
                continue
            script = migration.path.read_text()
            statements = split_statements(script)
            with conn.transaction():
                for statement in statements:
                    conn.execute(statement.encode())
                conn.execute(
                    "insert into supabase_migrations.schema_migrations (version, statements, name)"
                    " values (%s, %s, %s)",
                    (migration.version, statements, migration.name),
                )
            applied.append(migration.version)
    return applied
