"""DDL that keeps history at the database level, on SQLite and PostgreSQL.

A bug in opsbook (or a hurried hand in psql or sqlite3) must not be able to rewrite
history: the audit log and incident timelines refuse UPDATE and DELETE themselves, refuse
an INSERT that would take an existing row's place, and an incident cannot be deleted out
from under its timeline. What these triggers cannot stop (whoever may drop them) is what
the audit log's hash chain (`opsbook.store.chain`) is for.

Migrations call these functions, so a function's output is part of every migration that
used it: change what a function emits and old migrations change with it. Add a new
function instead.
"""

from __future__ import annotations


def append_only_ddl(table: str, dialect: str) -> list[str]:
    if dialect == "postgresql":
        function = f"opsbook_{table}_append_only"
        return [
            f"CREATE FUNCTION {function}() RETURNS trigger AS $$\n"
            "BEGIN\n"
            f"    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP;\n"
            "END;\n"
            "$$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
        for verb in ("UPDATE", "DELETE")
    ]


def drop_append_only_ddl(table: str, dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER {table}_no_truncate ON {table}",
            f"DROP TRIGGER {table}_append_only ON {table}",
            f"DROP FUNCTION opsbook_{table}_append_only()",
        ]
    return [f"DROP TRIGGER {table}_no_{verb}" for verb in ("update", "delete")]


def no_replace_ddl(table: str, keys: tuple[str, ...], dialect: str) -> list[str]:
    """Refuse an INSERT whose unique `keys` match a row already there (SQLite only).

    SQLite's `REPLACE`, `INSERT OR REPLACE` and `UPDATE OR REPLACE` resolve a conflict by
    deleting the old row, and that implicit delete fires no DELETE trigger unless
    `PRAGMA recursive_triggers` is on, which any connection may turn off. A BEFORE INSERT
    trigger runs before conflict resolution, so it sees the old row still there and
    aborts the whole statement. (NEW.id is -1 when the id is left to SQLite, so ordinary
    inserts pass.) PostgreSQL has no REPLACE: `INSERT .. ON CONFLICT DO UPDATE` and
    `MERGE` fire the UPDATE and DELETE triggers, so it needs nothing more.
    """
    if dialect == "postgresql":
        return []
    clash = " OR ".join(f"{key} = NEW.{key}" for key in keys)
    # Table and column names come from migrations, never from input.
    return [
        f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "  # noqa: S608
        f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {clash}) "
        f"BEGIN SELECT RAISE(ABORT, '{table} keeps its rows: INSERT over an existing row"
        " refused'); END"
    ]


def drop_no_replace_ddl(table: str, dialect: str) -> list[str]:
    return [] if dialect == "postgresql" else [f"DROP TRIGGER {table}_no_replace"]


def kept_ddl(table: str, dialect: str) -> list[str]:
    """Rows that may change but never go away or change their id: an incident's timeline
    and action items point at it by id (on SQLite, unenforced when a connection leaves
    foreign keys off, as the sqlite3 shell does)."""
    message = f"{table} keeps its rows: % refused"
    if dialect == "postgresql":
        function = f"opsbook_{table}_kept"
        return [
            f"CREATE FUNCTION {function}() RETURNS trigger AS $$\n"
            "BEGIN\n"
            f"    RAISE EXCEPTION '{message}',"
            " CASE TG_OP WHEN 'UPDATE' THEN 'changing the id' ELSE TG_OP END;\n"
            "END;\n"
            "$$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {table}_same_id BEFORE UPDATE ON {table}"
            f" FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION {function}()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{message.replace('%', 'DELETE')}'); END",
        f"CREATE TRIGGER {table}_same_id BEFORE UPDATE OF id ON {table} "
        "WHEN OLD.id IS NOT NEW.id "
        f"BEGIN SELECT RAISE(ABORT, '{message.replace('%', 'changing the id')}'); END",
        *no_replace_ddl(table, ("id",), dialect),
    ]


def drop_kept_ddl(table: str, dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER {table}_no_truncate ON {table}",
            f"DROP TRIGGER {table}_same_id ON {table}",
            f"DROP TRIGGER {table}_no_delete ON {table}",
            f"DROP FUNCTION opsbook_{table}_kept()",
        ]
    return [
        *drop_no_replace_ddl(table, dialect),
        f"DROP TRIGGER {table}_same_id",
        f"DROP TRIGGER {table}_no_delete",
    ]
