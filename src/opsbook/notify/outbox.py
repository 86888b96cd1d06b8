"""The durable outbox: enqueue in the caller's transaction, claim with a lease, send
outside any transaction, record the outcome in a new short one.

The cycle of one message: `pending` -> (claimed: `sending`, lease) -> `delivered`, or back
to `pending` at a later `due_at` (backoff, or the far side's Retry-After), or `dead` (a
refusal that will repeat, `max_failures` failed attempts, or older than `give_up_after`).
A `sending` message whose lease ran out (its process died mid-send) is claimed again and
sent with the SAME key. What "exactly once" means therefore depends on the far side:

- PagerDuty: events carry the incident's dedup_key; a repeated trigger, acknowledge or
  resolve changes nothing. Exactly once as PagerDuty's alert sees it.
- webhook: `Idempotency-Key` is this message's key; a receiver that drops repeated keys
  (FORMATS.md asks it to) sees each message exactly once.
- email: the `Message-ID` is this message's key; a repeat is recognisable, not refused.
- Slack incoming webhooks have no idempotency at all: at least once. A duplicate needs
  opsbook to die between Slack's `ok` and the outcome's commit (milliseconds).

Messages of one incident to one channel go in order: one is not claimed while an earlier
one is pending or sending (an acknowledge never overtakes the trigger it follows).

Delivered and dead rows are pruned after `keep_delivered` / `keep_dead`, a small batch per
transaction, and only once their incident is resolved (or they have none): while it is
open, the keys of its pages, reminders and customer emails are what make a repeat of a
decision queue nothing (`enqueue`). The claim itself reads `ix_notifications_due`
(status, due_at) from `pending`/`sending` only, so delivered rows do not slow it down.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, true, update
from sqlalchemy.orm import Session, aliased

from opsbook.clock import Clock
from opsbook.config.notify import OutboxPolicy
from opsbook.incidents.lifecycle import Status
from opsbook.incidents.models import Incident
from opsbook.notify.channels.base import Answer
from opsbook.notify.message import CUSTOMER_KINDS, Message
from opsbook.notify.models import DEAD, DELIVERED, PENDING, SENDING, Notification
from opsbook.store import Store

LEASE_LOST = "its sender stopped mid-send (the lease ran out); sent again with the same key"
PRUNE_BATCH = 500  # rows per delete: each transaction stays short (SQLite's write lock)
PRUNE_BATCHES = 20  # per call: a backlog of years is cleared over several rounds


def keyed(session: Session, key: str) -> Notification | None:
    """The message queued under `key`, whatever became of it."""
    return session.scalars(select(Notification).where(Notification.key == key)).first()


def enqueue(
    session: Session,
    *,
    channel: str,
    kind: str,
    incident_id: int | None,
    payload: dict[str, Any],
    clock: Clock,
    key: str | None = None,
    due_at: dt.datetime | None = None,
) -> Notification:
    """Queue one message in the caller's transaction: it commits with the event that made
    it, or not at all. With `key`, a message already queued under it is returned instead
    of a second one (escalation and reminders pass a key naming what they announce)."""
    found = keyed(session, key) if key is not None else None
    if found is not None:
        return found
    now = clock.now()
    row = Notification(
        key=key or uuid.uuid4().hex,
        channel=channel,
        kind=kind,
        incident_id=incident_id,
        payload=payload,
        status=PENDING,
        attempts=0,
        failures=0,
        created_at=now,
        due_at=due_at or now,
    )
    session.add(row)
    session.flush()
    return row


def make_due(session: Session, *, message_id: int, clock: Clock) -> None:
    """A pending message due now rather than at the end of its backoff: someone asks for
    it again (a repeated `deploy check`). In one UPDATE guarded by its state, so a message
    claimed meanwhile is left to its sender."""
    session.execute(
        update(Notification)
        .where(
            Notification.id == message_id,
            Notification.status == PENDING,
            Notification.due_at > clock.now(),
        )
        .values(due_at=clock.now())
        .execution_options(synchronize_session=False)
    )


def _claimable(now: dt.datetime) -> Any:
    earlier = aliased(Notification)
    # Customer email is one message per recipient: thousands of them waiting in line
    # behind each other (or a responder's page waiting behind them) would take hours.
    # They are exempt both ways; an all-clear drops the updates still waiting instead.
    waits_its_turn = exists().where(
        earlier.incident_id == Notification.incident_id,
        earlier.channel == Notification.channel,
        earlier.id < Notification.id,
        earlier.status.in_((PENDING, SENDING)),
        earlier.kind.not_in(CUSTOMER_KINDS),
    )
    return and_(
        or_(
            and_(Notification.status == PENDING, Notification.due_at <= now),
            and_(Notification.status == SENDING, Notification.lease_until <= now),
        ),
        or_(Notification.kind.in_(CUSTOMER_KINDS), ~waits_its_turn),
    )


def line_to(store: Store, message_id: int) -> list[int]:
    """`message_id` and the messages it waits its turn behind (same incident and channel,
    earlier, not yet delivered or dead), oldest first: what a sender must send, in order,
    to get this one out."""
    earlier = aliased(Notification)
    with store.reading() as session:
        ahead = session.scalars(
            select(earlier.id)
            .join(Notification, Notification.id == message_id)
            .where(
                Notification.kind.not_in(CUSTOMER_KINDS),
                earlier.incident_id == Notification.incident_id,
                earlier.channel == Notification.channel,
                earlier.id < Notification.id,
                earlier.status.in_((PENDING, SENDING)),
                earlier.kind.not_in(CUSTOMER_KINDS),
            )
            .order_by(earlier.id)
        ).all()
    return [*ahead, message_id]


def _among(only: Sequence[int] | None) -> Any:
    return true() if only is None else Notification.id.in_(only)


def has_due(store: Store, *, clock: Clock, only: Sequence[int] | None = None) -> bool:
    """Whether a claim would find work: a read that takes no write lock (SQLite), so an
    idle worker polling often costs the store almost nothing."""
    with store.reading() as session:
        query = select(Notification.id).where(_claimable(clock.now()), _among(only)).limit(1)
        return session.execute(query).first() is not None


def claim(
    store: Store,
    *,
    worker: str,
    limit: int,
    policy: OutboxPolicy,
    clock: Clock,
    only: Sequence[int] | None = None,
) -> list[Message]:
    """Take up to `limit` due messages for `worker` and commit the lease before any is sent
    (`only`: among these ids, for a runbook's notice sent while its step waits).

    PostgreSQL: FOR UPDATE SKIP LOCKED, so two serve processes claiming at once take
    different rows. SQLite: the transaction holds the write lock from BEGIN IMMEDIATE, so
    claims are one at a time; it is short (no network inside)."""
    now = clock.now()
    claimed: list[Message] = []
    with store.session() as session:
        rows = session.scalars(
            select(Notification)
            .where(_claimable(now), _among(only))
            .order_by(Notification.due_at, Notification.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            if row.status == SENDING:
                row.failures += 1
                row.last_error = LEASE_LOST
                if row.failures >= policy.max_failures:
                    _bury(row, now, LEASE_LOST)
                    continue
            row.status = SENDING
            row.attempts += 1
            row.lease_until = now + policy.lease
            row.claimed_by = worker
            claimed.append(
                Message(row.id, row.key, row.channel, row.kind, dict(row.payload), row.attempts)
            )
    return claimed


def record(
    store: Store,
    outcomes: Sequence[tuple[Message, Answer]],
    *,
    worker: str,
    policy: OutboxPolicy,
    clock: Clock,
    rng: random.Random,
) -> None:
    """Write how the attempts went, in one short transaction. A message this worker no
    longer holds (its lease ran out and another took it) is left to its new holder."""
    if not outcomes:
        return
    now = clock.now()
    with store.session() as session:
        ids = [message.id for message, _ in outcomes]
        rows = {
            row.id: row
            for row in session.scalars(
                select(Notification).where(Notification.id.in_(ids)).with_for_update()
            )
        }
        for message, answer in outcomes:
            row = rows.get(message.id)
            if row is None or row.status != SENDING or row.claimed_by != worker:
                continue
            _apply(row, answer, now=now, policy=policy, rng=rng)


def _apply(
    row: Notification,
    answer: Answer,
    *,
    now: dt.datetime,
    policy: OutboxPolicy,
    rng: random.Random,
) -> None:
    row.answer = answer.detail
    row.lease_until = None
    row.claimed_by = None
    if answer.outcome == "delivered":
        row.status, row.delivered_at, row.last_error = DELIVERED, now, None
        return
    if answer.outcome == "failed":
        _bury(row, now, answer.detail)
        return
    row.last_error = answer.detail
    if answer.status != 429:  # being rate limited is not the message's failure
        row.failures += 1
    if row.failures >= policy.max_failures:
        _bury(row, now, f"{answer.detail} (failed {row.failures} times)")
    elif now - row.created_at >= policy.give_up_after:
        _bury(row, now, f"{answer.detail} (still failing after {policy.give_up_after})")
    else:
        row.status = PENDING
        row.due_at = now + backoff(row.failures, policy, rng, answer.retry_after)


def _bury(row: Notification, now: dt.datetime, why: str) -> None:
    row.status, row.last_error, row.lease_until, row.claimed_by = DEAD, why, None, None
    row.due_at = now


def backoff(
    failures: int, policy: OutboxPolicy, rng: random.Random, retry_after: dt.timedelta | None
) -> dt.timedelta:
    """The far side's Retry-After when it gave one; else exponential from `backoff`,
    capped at `backoff_max`, with "equal jitter" (half fixed, half random) so that many
    messages failing together do not come back together."""
    if retry_after is not None:
        return retry_after
    exponent = min(max(failures - 1, 0), 40)  # 2**40 * 10ms is far past any cap
    ceiling = min(policy.backoff.total_seconds() * 2**exponent, policy.backoff_max.total_seconds())
    return dt.timedelta(seconds=ceiling / 2 + rng.uniform(0, ceiling / 2))


def prune(
    store: Store,
    *,
    policy: OutboxPolicy,
    clock: Clock,
    batch: int = PRUNE_BATCH,
    batches: int = PRUNE_BATCHES,
) -> int:
    """Delete delivered messages older than `keep_delivered` and dead ones older than
    `keep_dead` whose incident is resolved (or who have none), `batch` rows per short
    transaction; returns how many went. Two serve processes pruning at once delete
    disjoint or already-deleted rows: a DELETE by id of a row gone is a no-op."""
    now = clock.now()
    delivered_before, dead_before = now - policy.keep_delivered, now - policy.keep_dead
    removed = 0
    for _ in range(batches):
        with store.session() as session:
            ids = list(
                session.scalars(
                    select(Notification.id)
                    .outerjoin(Incident, Incident.id == Notification.incident_id)
                    .where(
                        or_(
                            Notification.incident_id.is_(None),
                            Incident.status == Status.RESOLVED.value,
                        ),
                        or_(
                            # due_at <= delivered_at: the index's range, then the exact test.
                            and_(
                                Notification.status == DELIVERED,
                                Notification.due_at < delivered_before,
                                Notification.delivered_at < delivered_before,
                            ),
                            # A dead row's due_at is when it died (_bury).
                            and_(Notification.status == DEAD, Notification.due_at < dead_before),
                        ),
                    )
                    .limit(batch)
                )
            )
            if ids:
                session.execute(delete(Notification).where(Notification.id.in_(ids)))
        removed += len(ids)
        if len(ids) < batch:
            break
    return removed
