"""Customer email's two operations: `notify_customers` (one incident, now, or a dry run:
`opsbook incident notify-customers`) and `send_due` (what `opsbook serve` runs every
`notify.customers.check_every`). Both read what is due in one transaction, resolve the
recipients with no store transaction open (the query waits on the network), then queue in
one short transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.notify.customers import (
    Composed,
    CustomersError,
    already_sent,
    compose,
    due,
    queue,
    require_channel,
)
from opsbook.notify.mail_templates import TemplateProblem
from opsbook.notify.recipients import Recipients, RecipientsError, recipients
from opsbook.store import Store

log = logging.getLogger("opsbook.notify")
ACTOR = "opsbook-customers"

__all__ = [
    "CustomerPlan",
    "CustomersError",
    "CustomersTask",
    "RecipientsError",
    "TemplateProblem",
    "notify_customers",
    "send_due",
]


@dataclass(frozen=True)
class CustomerPlan:
    """Who gets what: `recipients` are sent it now (or would be, on a dry run); `already`
    had this very email before and are not sent it twice."""

    incident_id: int
    kind: str
    step: str
    subject: str
    text: str
    html: str
    recipients: list[str]
    already: list[str]
    skipped: list[str]
    skipped_count: int
    queued: int
    dry_run: bool


def notify_customers(
    store: Store, config: Config, *, incident_id: int, dry_run: bool, actor: str, clock: Clock
) -> CustomerPlan:
    """Email the incident's customers its latest public update (its all-clear once
    resolved) now, whatever the clocks say; or, with `dry_run`, only say who would get
    what. Raises CustomersError (nothing public to send, off), RecipientsError or
    TemplateProblem, having sent nothing."""
    require_channel(config)
    with store.reading() as session:
        composed = compose(session, config=config, incident_id=incident_id, now=clock.now())
    found = _recipients(config)
    with store.reading() as session:
        done = already_sent(session, composed, found.addresses)
    fresh = [a for a in found.addresses if a not in done]
    queued = 0
    if not dry_run and fresh:
        queued = _queue(store, config, [composed], found.addresses, actor=actor, clock=clock)
    return _plan(composed, found, fresh, sorted(done), queued, dry_run)


def _recipients(config: Config) -> Recipients:
    found = recipients(config)
    if not found.addresses:
        raise RecipientsError(
            "no recipients: notify.customers.recipients is empty and recipients_query"
            f" returned no valid address ({found.skipped_count} skipped)"
        )
    return found


def _plan(
    composed: Composed,
    found: Recipients,
    fresh: list[str],
    done: list[str],
    queued: int,
    dry_run: bool,
) -> CustomerPlan:
    mail = composed.mail
    return CustomerPlan(
        incident_id=composed.incident_id,
        kind=composed.kind,
        step=composed.step,
        subject=mail.subject.strip(),
        text=mail.text,
        html=mail.html,
        recipients=fresh,
        already=done,
        skipped=found.skipped,
        skipped_count=found.skipped_count,
        queued=queued,
        dry_run=dry_run,
    )


def send_due(store: Store, config: Config, *, clock: Clock) -> int:
    """Queue every customer email due now (none while customer email is off); returns how
    many messages were queued."""
    if config.notify.customers.channel is None:
        return 0
    require_channel(config)
    with store.reading() as session:
        steps = due(session, config=config, now=clock.now())
    if not steps:
        return 0
    found = _recipients(config)
    return _queue(store, config, steps, found.addresses, actor=ACTOR, clock=clock)


def _queue(
    store: Store,
    config: Config,
    steps: list[Composed],
    addresses: list[str],
    *,
    actor: str,
    clock: Clock,
) -> int:
    """Every step for every address, in one short transaction (no network inside)."""
    with store.session() as session:
        return sum(
            queue(session, config=config, composed=c, addresses=addresses, actor=actor, clock=clock)
            for c in steps
        )


class CustomersTask:
    """`send_due` every `check_every` inside `opsbook serve`, off the event loop. A failing
    query or template is logged and tried again next round: nothing is sent meanwhile."""

    def __init__(self, config: Config, store: Store, *, clock: Clock) -> None:
        self.config, self.store, self.clock = config, store, clock

    async def run(self, stop: asyncio.Event) -> None:
        every = self.config.notify.customers.check_every.total_seconds()
        while not stop.is_set():
            try:
                await asyncio.to_thread(send_due, self.store, self.config, clock=self.clock)
            except (CustomersError, RecipientsError, TemplateProblem) as exc:
                log.warning("customer email not sent: %s", exc)
            except Exception:
                log.exception("customer email round failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
