"""The audit log's hash chain: every row seals its own content and the row before it.

The triggers in `guards` stop opsbook's role, and anyone else playing by the rules, from
rewriting history. They cannot stop whoever may bypass or drop them: a PostgreSQL superuser
(`SET session_replication_role = replica`), the role that owns the tables, anyone who can
write the SQLite file. The chain is how such a change is found afterwards: change, remove
or reorder a row and the walk in `verify` fails at that row and names it.

A chain has no secret. Someone who changes a row and then recomputes every hash after it
leaves a chain that is intact again; only a head recorded somewhere they cannot write
(`verify(anchor=...)`) shows it. Rows cut from the end are found the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from opsbook.jsonout import dumps
from opsbook.store.models import AuditEntry
from opsbook.store.session import Store

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
    # returns json.loads(dumps(value)), so tuples come back as lists, int keys as strings,
    # NaN as null (jsonout). Without this a row would fail its own check when it is read.
    details = json.loads(dumps(row.details))
    content = dumps(
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


@dataclass(frozen=True)
class Problem:
    """The first row where the chain does not hold."""

    id: int
    seq: int
    kind: str  # "row missing", "chain broken" or "content changed"
    detail: str


@dataclass(frozen=True)
class Verdict:
    rows: int  # rows checked (all of them when the chain is intact)
    head_id: int | None
    head: Head
    problem: Problem | None
    anchor_found: bool | None  # among the rows found intact; None when no anchor was given

    @property
    def intact(self) -> bool:
        return self.problem is None and self.anchor_found is not False


def verify(store: Store, *, anchor: str | None = None, batch: int = 1000) -> Verdict:
    """Walk the chain from its first row; stop at the first row that breaks it."""
    expected = Head(seq=0, hash=GENESIS)
    previous_id: int | None = None
    found_anchor = False
    rows = 0
    for row in _in_chain_order(store, batch):
        problem = _check(row, expected, previous_id)
        if problem is not None:
            return Verdict(rows, previous_id, expected, problem, _anchor(anchor, found_anchor))
        rows += 1
        found_anchor = found_anchor or row.hash == anchor
        expected, previous_id = Head(seq=row.seq, hash=row.hash), row.id
    return Verdict(rows, previous_id, expected, None, _anchor(anchor, found_anchor))


def _anchor(anchor: str | None, found: bool) -> bool | None:
    return None if anchor is None else found


def _check(row: AuditEntry, expected: Head, previous_id: int | None) -> Problem | None:
    after = f"id {previous_id}" if previous_id is not None else "the start of the log"
    if row.seq != expected.seq + 1:
        if row.seq > expected.seq + 1:
            first, last = expected.seq + 1, row.seq - 1
            gone = f"position {first} is" if first == last else f"positions {first}-{last} are"
            return Problem(
                row.id,
                row.seq,
                "row missing",
                f"chain {gone} gone (deleted between {after} and id {row.id})",
            )
        return Problem(row.id, row.seq, "chain broken", f"chain position {row.seq} repeats")
    if row.prev_hash != expected.hash:
        return Problem(
            row.id,
            row.seq,
            "chain broken",
            f"it follows a row hashed {row.prev_hash[:12]}, but"
            f" the row before it ({after}) hashes to {expected.hash[:12]}: that row was"
            " rewritten and re-sealed, or this link was edited",
        )
    actual = seal(row.prev_hash, row)
    if actual != row.hash:
        return Problem(
            row.id,
            row.seq,
            "content changed",
            f"its fields hash to {actual[:12]}, not to"
            f" the {row.hash[:12]} sealed when it was written: it was edited since",
        )
    return None


def _in_chain_order(store: Store, batch: int) -> Iterator[AuditEntry]:
    """Every row by `seq`, a batch per short transaction: on SQLite each transaction holds
    the write lock (BEGIN IMMEDIATE), so one long read would stall every writer."""
    query = select(AuditEntry).order_by(AuditEntry.seq).limit(batch)
    after: int | None = None  # no lower bound at first: a row moved to seq 0 is walked too
    while True:
        with store.session() as session:
            page = query if after is None else query.where(AuditEntry.seq > after)
            found = list(session.scalars(page))
        yield from found
        if len(found) < batch:
            return
        after = found[-1].seq
