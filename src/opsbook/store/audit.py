"""The audit log helper every destructive or state-changing action calls.

One function writes every audit record (dispatch's `log_incident_event` habit), so
masking, timing and actor attribution are decided in exactly one place.
"""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config.secrets import mask_text, mask_value
from opsbook.store import chain
from opsbook.store.models import AuditEntry
from opsbook.store.session import Store


def default_actor() -> str:
    """`$OPSBOOK_ACTOR`, else the OS user: every entry names a person or a service."""
    configured = os.environ.get("OPSBOOK_ACTOR")
    if configured:
        # Bytes that are not UTF-8 arrive as lone surrogates: kept, as visible escapes.
        return configured.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def record(
    session: Session,
    *,
    action: str,
    target: str,
    outcome: str,
    actor: str | None = None,
    details: dict[str, Any] | None = None,
    ref: str | None = None,
    secrets: Iterable[str] = (),
    clock: Clock = SYSTEM_CLOCK,
) -> AuditEntry:
    """Append one entry in the caller's transaction; secrets are masked before storage.

    The entry is sealed into the hash chain here, the one place rows are written, so
    every row is chained. Appending holds the chain's head until the caller's
    transaction ends: keep audited transactions short.
    """
    secrets = list(secrets)
    entry = AuditEntry(
        at=clock.now(),
        actor=actor or default_actor(),
        action=action,
        target=mask_text(target, secrets),
        outcome=outcome,
        ref=ref,
        details=mask_value(details or {}, secrets),
    )
    head = chain.lock_head(session)
    entry.seq, entry.prev_hash = head.seq + 1, head.hash
    entry.hash = chain.seal(head.hash, entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass
class AuditedAction:
    """Handed to the body of `audited`: add details as the action learns them."""

    ref: str
    details: dict[str, Any] = field(default_factory=dict)
    outcome: str = "ok"


@contextmanager
def audited(
    store: Store,
    *,
    action: str,
    target: str,
    actor: str | None = None,
    details: dict[str, Any] | None = None,
    secrets: Iterable[str] = (),
    clock: Clock = SYSTEM_CLOCK,
) -> Iterator[AuditedAction]:
    """Record intent before acting and the outcome after, each in its own transaction.

    The intent row is committed first, so an action killed half-way still shows as
    `started` with no matching end: the log never loses that something was attempted.
    """
    secrets = list(secrets)
    handle = AuditedAction(ref=uuid.uuid4().hex, details=dict(details or {}))
    common = dict(
        action=action, target=target, actor=actor, ref=handle.ref, secrets=secrets, clock=clock
    )
    with store.session() as session:
        record(session, outcome="started", details=handle.details, **common)  # type: ignore[arg-type]
    try:
        yield handle
    except BaseException as exc:
        failure = {**handle.details, "error": f"{type(exc).__name__}: {exc}"}
        with store.session() as session:
            record(session, outcome="failed", details=failure, **common)  # type: ignore[arg-type]
        raise
    with store.session() as session:
        record(session, outcome=handle.outcome, details=handle.details, **common)  # type: ignore[arg-type]


def entries(
    session: Session, *, limit: int = 50, action: str | None = None, target: str | None = None
) -> list[AuditEntry]:
    """Newest first."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    if target:
        query = query.where(AuditEntry.target == target)
    return list(session.scalars(query))
