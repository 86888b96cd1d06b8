"""The target database's changing operations, each a read-only plan and an act.

A plan is refused with a `PostgresError` before anything changes; the act on that plan
writes the audit log and nowhere else. Each pair has its module: `changes_sessions`
(ending sessions), `changes_archive` (archival), `changes_views` (materialized views),
`changes_migrations` (migrations); `service.py` is the domain's one entry point and
re-exports them. This module holds what every pair is given.
"""

from __future__ import annotations

from typing import Any, TypedDict

import psycopg

from opsbook.clock import Clock
from opsbook.store import Store

Connection = psycopg.Connection[Any]


class Who(TypedDict):
    """Who acts, and where it is written down: what every changing operation is given."""

    store: Store
    actor: str
    clock: Clock
