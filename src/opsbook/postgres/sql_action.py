"""`sql.query`, what a runbook's `sql:` step runs on the target database: one statement,
read-only unless the step says it writes, bounded by the step's timeout, its values bound
as parameters, never spliced into the SQL."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from pydantic import Field

from opsbook.postgres.queries import connect, values
from opsbook.runbooks.actions import (
    LITERAL,
    Action,
    ActionContext,
    ActionFailed,
    ActionInputs,
    Registry,
)

ROW_LIMIT = 500


class SqlInputs(ActionInputs):
    # Never templated: values are bound through params (`%(name)s`), never spliced in.
    sql: str = Field(json_schema_extra=LITERAL)
    params: dict[str, Any] = {}
    writes: bool = False
    database_url: str | None = None


def target_url(context: ActionContext, given: str | None, *, to: str) -> str:
    """The step's `database_url`, else the config's `database.url`."""
    if given is not None:
        return given
    if context.config.database.url is None:
        raise ActionFailed(f"database.url is not set in the config: no database to {to}")
    return context.config.database.url.reveal()


def _query(context: ActionContext, inputs: SqlInputs) -> dict[str, Any]:
    try:
        with connect(
            target_url(context, inputs.database_url, to="query"), autocommit=False
        ) as conn:
            with conn.cursor(row_factory=dict_row) as cur:
                # Read-only unless the step says it writes; bounded by the step's timeout.
                if not inputs.writes:
                    cur.execute("SET TRANSACTION READ ONLY")
                cur.execute(
                    "SELECT set_config('statement_timeout', %s, true)",
                    (f"{int(context.timeout * 1000)}ms",),
                )
                # A read-only step runs exactly one statement, prepared (the extended
                # protocol refuses "commit; create table ..."), inside a READ ONLY
                # transaction that a single statement cannot turn read-write.
                cur.execute(inputs.sql.encode(), inputs.params or None, prepare=not inputs.writes)
                rows = cur.fetchmany(ROW_LIMIT) if cur.description else []
                columns = [c.name for c in cur.description] if cur.description else []
                rowcount = cur.rowcount
            conn.commit()
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ActionFailed(f"SQL failed: {message}") from None
    return {
        # Every string is masked: query text comes back under any name (`left(query, 80)`).
        "rows": [values(row) for row in rows],
        "rowcount": rowcount,
        "columns": columns,
    }


def _describe(inputs: SqlInputs) -> str:
    mode = "WRITES" if inputs.writes else "read-only"
    params = f" with {inputs.params}" if inputs.params else ""
    return f"SQL ({mode}){params}:\n{inputs.sql.strip()}"


def register(registry: Registry) -> None:
    registry.register(
        Action(
            "sql.query",
            "Run SQL on the target database (read-only unless writes: true).",
            SqlInputs,
            _query,
            _describe,
            # Audited read-only too: a READ ONLY transaction still lets server functions
            # act (pg_terminate_backend, COPY TO PROGRAM, dblink, NOTIFY).
            writes=lambda _i: True,
        )
    )
