"""DDL that makes a table append-only at the database level, on SQLite and PostgreSQL.

A bug in opsbook (or a hurried hand in psql) must not be able to rewrite history:
the audit log and incident timelines refuse UPDATE and DELETE themselves.
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
