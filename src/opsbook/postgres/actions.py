"""Target-database actions for runbooks (`sql:` steps run through `sql.query`)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import psycopg
from psycopg.rows import dict_row

from opsbook.postgres.queries import connect
from opsbook.runbooks.actions import Action, ActionContext, ActionFailed, ActionInputs, Registry

ROW_LIMIT = 500


class SqlInputs(ActionInputs):
    sql: str
    params: dict[str, Any] = {}
    writes: bool = False
    database_url: str | None = None


def _plain(value: Any) -> Any:
    """Rows as JSON: step outputs are stored and shown, so they must serialise."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID | bytes | memoryview):
        return str(value) if not isinstance(value, bytes | memoryview) else bytes(value).hex()
    return value


def _query(context: ActionContext, inputs: SqlInputs) -> dict[str, Any]:
    url = inputs.database_url
    if url is None:
        if context.config.database.url is None:
            raise ActionFailed("database.url is not set in the config: no database to query")
        url = context.config.database.url.reveal()
    try:
        with connect(url, autocommit=False) as conn:
            with conn.cursor(row_factory=dict_row) as cur:
                # Read-only unless the step says it writes; bounded by the step's timeout.
                if not inputs.writes:
                    cur.execute("SET TRANSACTION READ ONLY")
                cur.execute(
                    "SELECT set_config('statement_timeout', %s, true)",
                    (f"{int(context.timeout * 1000)}ms",),
                )
                cur.execute(inputs.sql.encode(), inputs.params or None)
                rows = cur.fetchmany(ROW_LIMIT) if cur.description else []
                columns = [c.name for c in cur.description] if cur.description else []
                rowcount = cur.rowcount
            conn.commit()
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ActionFailed(f"SQL failed: {message}") from None
    return {
        "rows": [{k: _plain(v) for k, v in row.items()} for row in rows],
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
        )
    )
