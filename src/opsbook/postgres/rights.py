"""What the connected role may see of other roles' sessions, read once per connection.

Managed PostgreSQL often gives the app's role neither `pg_monitor` nor
`pg_read_all_stats`. PostgreSQL then still lists every session, but hides all but the pid,
user, database and application of other roles' sessions. Every reading of sessions is
worded by this: what is hidden is counted as hidden, never dropped or compared as if known.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import psycopg

from opsbook.postgres import queries


@dataclass(frozen=True)
class Visibility:
    """The role, whether it reads every session in full and may end other roles' sessions,
    and the one line that says what is missing (None when nothing is)."""

    role: str
    sees_all: bool
    ends_others: bool
    notice: str | None
    grant: str  # "grant pg_monitor to <role>", the role quoted as SQL would need it


# A connection lives for one command or one check run; its rights do not change under it.
_seen: weakref.WeakKeyDictionary[psycopg.Connection[Any], Visibility] = weakref.WeakKeyDictionary()


def visibility(conn: psycopg.Connection[Any]) -> Visibility:
    """The connected role's view of other sessions (asked of the server once per connection)."""
    known = _seen.get(conn)
    if known is None:
        row = queries.one(conn, "visibility")
        grant = f"grant pg_monitor to {row['quoted_role']}"
        notice = (
            None if row["sees_all"] else f"this role sees only its own sessions' details: {grant}"
        )
        known = Visibility(row["role"], row["sees_all"], row["ends_others"], notice, grant)
        _seen[conn] = known
    return known


HIDDEN = "details hidden: grant pg_monitor"


def named(pid: int, *, hidden: bool) -> str:
    """`pid 123`, or `pid 123 (details hidden: grant pg_monitor)` for a session this role
    cannot read: never a blank or `None` where its details would be."""
    return f"pid {pid} ({HIDDEN})" if hidden else f"pid {pid}"
