"""Query text read from the server (pg_stat_activity, pg_stat_statements) with the
passwords it may hold masked, before it is shown, logged, stored or printed as JSON.

pg_stat_statements normalizes constants only in planned statements: a utility command
(`ALTER ROLE app PASSWORD 'hunter2'`, `CREATE USER MAPPING ... OPTIONS (password '...')`)
is kept as typed, and pg_stat_activity shows whatever runs now. Both hand the literal to
anyone who may read the view. `mask_query` is the one function that masks it; every
query column leaving the database goes through `masked_row`.
"""

from __future__ import annotations

import re
from typing import Any

from opsbook.config.secrets import MASK, mask_shapes

# The columns our queries and the runbooks' `sql:` steps name query text by.
QUERY_COLUMNS = frozenset({"query"})

# PASSWORD followed by a string literal: ALTER/CREATE ROLE|USER ... [ENCRYPTED] PASSWORD
# 'x', a user mapping's OPTIONS (password 'x') or (SET password 'x'), `password = 'x'`.
# A literal may be an E'' string (backslash escapes), U&'', dollar-quoted, or cut short
# by `left(query, n)`: then it runs to the end; 'password' itself quoted is a word, not
# the keyword. `''...''` first: a libpq keyword value
# quoted inside a SQL literal (dblink_connect('password=''a b'' host=x')).
_SQL_PASSWORD = re.compile(
    r"(?P<keep>(?<!')\bpassword\b\s*(?:=\s*)?)"
    r"(?P<secret>''[^']*(?:''|\Z)"
    r"|E'(?:[^'\\]|\\.|'')*(?:'|\Z)"
    r"|(?:U&)?'(?:[^']|'')*(?:'|\Z)"
    r"|\$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?(?:\$(?P=tag)\$|\Z))",
    re.IGNORECASE | re.DOTALL,
)


def mask_query(text: str) -> str:
    """`text` with every password literal masked: SQL's PASSWORD '...', and the shapes
    any text is masked for (a connection string's `password=`, a URL's password)."""
    return mask_shapes(_SQL_PASSWORD.sub(lambda m: m.group("keep") + MASK, text))


def masked_row(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with its query-text columns masked; other columns as they are."""
    return {
        k: mask_query(v) if k in QUERY_COLUMNS and isinstance(v, str) else v for k, v in row.items()
    }
