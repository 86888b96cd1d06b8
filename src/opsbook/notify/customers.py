"""Customer email: the seed's P0 step 8, "Communicate to customers (if >15 min): email all
org admins ... update every 30 minutes", and its "Send all-clear email".

What customers read is only what the public page shows (`status.public.incident_view`):
the incident's public name and status and its latest public update, never its title,
notes or check names. No public update, no email.

When (the SLA clocks' policy, `incidents.customer_update_*`):
- an incident of a listed severity (P0) open for `customer_update_after` (15 min) is sent
  its latest public update;
- then, at most every `customer_update_every` (30 min), a NEWER public update is sent.
  Nothing new said, nothing sent: the same words again every 30 minutes teach people to
  ignore the emails. (The responders' clock keeps reminding them to post one.)
- once resolved, if customers were emailed about it, the all-clear.

Each email is one outbox message per recipient, keyed `customers-<incident>-<step>-<hash
of the address>`: a second decision (a restart, a second serve, the CLI) queues nothing
twice. Each step is recorded on the timeline (`customers.update`, `customers.all_clear`);
those records are what the next decision reads, like the SLA clocks."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session, aliased

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.incidents import service as incidents
from opsbook.incidents.models import Incident, IncidentEvent
from opsbook.notify import mail_templates, outbox
from opsbook.notify.mail_templates import Rendered
from opsbook.notify.message import (
    CUSTOMER_ALL_CLEAR,
    CUSTOMER_UPDATE,
    incident_key,
    many_lines,
    one_line,
)
from opsbook.notify.models import DEAD, PENDING, Notification
from opsbook.status.public import incident_view
from opsbook.status.view import IncidentView, UpdateView
from opsbook.store.audit import record

SENT = {CUSTOMER_UPDATE: "customers.update", CUSTOMER_ALL_CLEAR: "customers.all_clear"}
SUPERSEDED = "superseded: a newer customer email was queued before this one went out"


class CustomersError(Exception):
    """Nothing to send, in words a responder acts on (no public update, not configured)."""


@dataclass(frozen=True)
class Composed:
    """One step's email to every recipient: which public event it carries, rendered."""

    incident_id: int
    kind: str  # CUSTOMER_UPDATE or CUSTOMER_ALL_CLEAR
    event_id: int
    mail: Rendered

    @property
    def step(self) -> str:
        return f"{'u' if self.kind == CUSTOMER_UPDATE else 'ok'}{self.event_id}"


def require_channel(config: Config) -> str:
    name = config.notify.customers.channel
    if name is None:
        raise CustomersError("customer email is off: notify.customers.channel is not set")
    off = config.off_reason("notify.channels", name)
    if off is not None:
        raise CustomersError(f"customer email is off: channel {name!r} is off ({off})")
    return name


# --- what is due --------------------------------------------------------------------------


def compose(session: Session, *, config: Config, incident_id: int, now: dt.datetime) -> Composed:
    """What customers would be sent about this incident now, whatever the clocks say: the
    all-clear once it is resolved, else its latest public update."""
    incident = incidents.get(session, incident_id=incident_id)
    view = incident_view(session, config=config, incident_id=incident_id, now=now)
    if incident.status == incidents.Status.RESOLVED.value:
        if _last_sent(session, incident_id, CUSTOMER_UPDATE) is None:
            raise CustomersError(
                f"customers were never emailed about incident #{incident_id}: there is no"
                " all-clear to send"
            )
        return _all_clear(session, config, incident_id, view)
    if view is None or not view.updates:
        raise CustomersError(
            f"incident #{incident_id} has no public update: customers are sent only what"
            f" the status page shows. Post one: opsbook incident update {incident_id}"
            ' --message "..." --public'
        )
    return _update(config, incident_id, view, view.updates[0])


def due(session: Session, *, config: Config, now: dt.datetime) -> list[Composed]:
    """What `opsbook serve` sends now (see the module's note for when)."""
    policy = config.incidents
    found: list[Composed] = []
    for incident in incidents.list_incidents(session, open_only=True):
        if incident.severity not in policy.customer_update_severities:
            continue
        if now < incident.opened_at + policy.customer_update_after:
            continue
        view = incident_view(session, config=config, incident_id=incident.id, now=now)
        if view is None or not view.updates:
            continue
        latest = view.updates[0]
        sent = _last_sent(session, incident.id, CUSTOMER_UPDATE)
        if sent is not None:
            event_id, at = sent
            if _event_id(latest) <= event_id or now < at + policy.customer_update_every:
                continue
        found.append(_update(config, incident.id, view, latest))
    for incident in _awaiting_all_clear(session):
        view = incident_view(session, config=config, incident_id=incident.id, now=now)
        found.append(_all_clear(session, config, incident.id, view))
    return found


def _last_sent(session: Session, incident_id: int, kind: str) -> tuple[int, dt.datetime] | None:
    """The public event the latest email of `kind` carried, and when it was queued."""
    row = session.execute(
        select(IncidentEvent.data, IncidentEvent.at)
        .where(IncidentEvent.incident_id == incident_id, IncidentEvent.kind == SENT[kind])
        .order_by(IncidentEvent.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row[0]["event"]), row[1])


def _awaiting_all_clear(session: Session) -> list[Incident]:
    """Resolved incidents whose customers had an update since their last all-clear."""
    sent, cleared = aliased(IncidentEvent), aliased(IncidentEvent)
    last_update = (
        select(func.max(sent.id))
        .where(sent.incident_id == Incident.id, sent.kind == SENT[CUSTOMER_UPDATE])
        .scalar_subquery()
    )
    query = select(Incident).where(
        Incident.status == incidents.Status.RESOLVED.value,
        last_update.is_not(None),
        ~exists().where(
            cleared.incident_id == Incident.id,
            cleared.kind == SENT[CUSTOMER_ALL_CLEAR],
            cleared.id > last_update,
        ),
    )
    return list(session.scalars(query.order_by(Incident.id)))


def _event_id(update: UpdateView) -> int:
    return int(update.id.removeprefix("u"))


def _update(config: Config, incident_id: int, view: IncidentView, latest: UpdateView) -> Composed:
    values = _values(config, view, latest)
    mail = mail_templates.render(config, mail_templates.UPDATE, values)
    return Composed(incident_id, CUSTOMER_UPDATE, _event_id(latest), mail)


def _all_clear(
    session: Session, config: Config, incident_id: int, view: IncidentView | None
) -> Composed:
    """The all-clear carries the resolution's words when they were published."""
    resolved = session.scalars(
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id, IncidentEvent.kind == "status")
        .order_by(IncidentEvent.id.desc())
    ).first()
    if view is None or resolved is None:
        raise CustomersError(f"incident #{incident_id} has no public record to clear")
    latest = view.updates[0] if view.updates else None
    said = latest if latest is not None and latest.id == f"u{resolved.id}" else None
    mail = mail_templates.render(config, mail_templates.ALL_CLEAR, _values(config, view, said))
    return Composed(incident_id, CUSTOMER_ALL_CLEAR, resolved.id, mail)


def _values(config: Config, view: IncidentView, update: UpdateView | None) -> dict[str, Any]:
    """What a template may read: public words only (mail_templates.SAMPLE lists them)."""
    zone = ZoneInfo(config.status.time_zone)

    def when(at: dt.datetime | None) -> str:
        return "" if at is None else f"{at.astimezone(zone):%Y-%m-%d %H:%M %Z}"

    every = int(config.incidents.customer_update_every.total_seconds() // 60)
    return {
        "service": config.status.name,
        "incident": {
            "name": one_line(view.name),
            "status": view.status,
            "started": when(view.created_at),
            "resolved": when(view.resolved_at),
        },
        "update": {
            # Control characters shown as escapes: a pasted terminal colour code or a
            # stray carriage return reaches nobody's mail client raw.
            "body": "" if update is None else many_lines(update.body),
            "at": "" if update is None else when(update.at),
        },
        "every": f"{every} minutes" if every < 120 else f"{every // 60} hours",
        "status_url": config.status.url,
    }


# --- queueing -----------------------------------------------------------------------------


def message_key(composed: Composed, address: str) -> str:
    """The outbox key of one step to one address; the address hashed (a key is at most 255
    characters, an address up to 320) and without case (Admin@x and admin@x are one)."""
    digest = hashlib.sha256(address.casefold().encode()).hexdigest()[:24]
    return f"customers-{composed.incident_id}-{composed.step}-{digest}"


def already_sent(session: Session, composed: Composed, addresses: list[str]) -> set[str]:
    """The addresses this step was queued for before."""
    keys = {message_key(composed, a): a for a in addresses}
    found: set[str] = set()
    names = list(keys)
    for start in range(0, len(names), 500):  # bound the IN list
        chunk = names[start : start + 500]
        rows = session.scalars(select(Notification.key).where(Notification.key.in_(chunk)))
        found |= {keys[k] for k in rows}
    return found


def queue(
    session: Session,
    *,
    config: Config,
    composed: Composed,
    addresses: list[str],
    actor: str,
    clock: Clock,
) -> int:
    """Queue the step for every address not yet sent it, in the caller's transaction, and
    record it on the timeline and in the audit log; returns how many were queued. The
    incident row is locked first: two deciders queue one after the other, and the second
    finds every key taken."""
    channel = require_channel(config)
    incident = incidents.get(session, incident_id=composed.incident_id, lock=True)
    done = already_sent(session, composed, addresses)
    fresh = [a for a in addresses if a not in done]
    if not fresh:
        return 0
    _supersede(session, composed, clock)
    thread = f"{incident_key(config.project, composed.incident_id)}-customers"
    for address in fresh:
        outbox.enqueue(
            session,
            channel=channel,
            kind=composed.kind,
            incident_id=composed.incident_id,
            payload=_payload(composed, address, thread),
            clock=clock,
            key=message_key(composed, address),
        )
    what = "all-clear" if composed.kind == CUSTOMER_ALL_CLEAR else "update"
    details = {"step": composed.step, "event": composed.event_id, "recipients": len(fresh)}
    incidents.log_event(
        session,
        incident=incident,
        kind=SENT[composed.kind],
        actor=actor,
        clock=clock,
        text=f"customer email ({what}) queued for {len(fresh)} recipients",
        data=details,
    )
    record(
        session,
        action="notify.customers",
        target=f"incident #{composed.incident_id}",
        outcome="ok",
        actor=actor,
        details={"kind": composed.kind, **details},
        clock=clock,
    )
    return len(fresh)


def _payload(composed: Composed, address: str, thread: str) -> dict[str, Any]:
    mail = composed.mail
    return {
        "incident": {"id": composed.incident_id},
        "step": composed.step,
        "mail": {
            "to": address,
            "subject": mail.subject.strip(),
            "text": mail.text,
            "html": mail.html,
            "thread": thread,
        },
    }


def _supersede(session: Session, composed: Composed, clock: Clock) -> None:
    """Customer emails of this incident still waiting (a slow mail server) would arrive
    after this newer one: they are dropped, with why."""
    session.execute(
        update(Notification)
        .where(
            Notification.incident_id == composed.incident_id,
            Notification.kind == CUSTOMER_UPDATE,
            Notification.status == PENDING,
            # Not this step's own rows (a second run adding recipients).
            Notification.key.not_like(f"customers-{composed.incident_id}-{composed.step}-%"),
        )
        .values(status=DEAD, last_error=SUPERSEDED, due_at=clock.now())
    )
