"""Lay out the sandbox schema the way `supabase db push` would: files applied in order,
each recorded in supabase_migrations.schema_migrations."""

from __future__ import annotations

from pathlib import Path

from opsbook.postgres.migrations import MigrationFile, apply_pending
from opsbook.postgres.migrations import migration_files as _files

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def migration_files() -> list[MigrationFile]:
    return _files(MIGRATIONS_DIR)


def apply_schema(conninfo: str) -> list[str]:
    """Apply the sandbox migrations not yet recorded; returns the versions applied now."""
    return apply_pending(conninfo, MIGRATIONS_DIR)
