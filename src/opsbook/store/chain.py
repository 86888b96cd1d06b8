"""The audit log's hash chain: every row seals its own content and the row before it.

The triggers in `guards` stop opsbook's role, and anyone else playing by the rules, from
rewriting history. They cannot stop whoever may bypass or drop them: a PostgreSQL superuser
(`SET session_replication_role = replica`), the role that owns the tables, anyone who can
write the SQLite file. The chain is how such a change is found afterwards: change, remove
or reorder a row and a walk along the chain fails at that row.

A chain has no secret. Someone who changes a row and then recomputes every hash after it
leaves a chain that is intact again; only a head recorded somewhere they cannot write
shows it. Rows cut from the end are found the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from opsbook.store.models import AuditEntry

GENESIS = "0" * 64
# Fixed, and apart from the migration lock's key: every process that writes to one
# PostgreSQL store takes this lock before it reads the chain's head.
_PG_CHAIN_LOCK_KEY = 0x0B5B0AD


class Sealed(Protocol):
    """What the hash covers: an AuditEntry, or a row a migration reads without the ORM."""

    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> dt.datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def ref(self) -> str | None: ...
    @property
    def details(self) -> Any: ...


def seal(prev_hash: str, row: Sealed) -> str:
    """SHA-256 over the previous row's hash and this row's canonical content."""
    at = row.at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    # Seal what a reader will get back, not the dict the writer held: the JSON column
    # returns json.loads(json.dumps(value)), so tuples come back as lists, int keys as
    # strings. Without this a row would fail its own check the first time it is read.
    details = json.loads(json.dumps(row.details))
    content = json.dumps(
        [row.seq, at, row.actor, row.action, row.target, row.outcome, row.ref, details],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


def lock_head(session: Session) -> Head:
    """The chain's last link, held until the caller's transaction ends.

    Two writers that read the same head would fork the chain (the unique `seq` would then
    refuse the second commit). On PostgreSQL a transaction-scoped advisory lock makes them
    take turns; it is released at commit, after the new row is visible, so the next writer
    reads it. On SQLite every opsbook transaction begins with BEGIN IMMEDIATE
    (`store.engine`), so this one already holds the database's only write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_CHAIN_LOCK_KEY})
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return Head(seq=0, hash=GENESIS) if last is None else Head(seq=last.seq, hash=last.hash)
