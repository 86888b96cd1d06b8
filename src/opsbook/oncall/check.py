"""The seed's on-call preparation, "Install PagerDuty mobile app, test alert delivery", as
an operation: a test page to the person on call now, through the outbox and the channels
a P0 would use, and their word that it reached them, with their name and the time.

The page is kind `test` (every channel marks it TEST; PagerDuty triggers it at severity
info and resolves it at once), so nobody mistakes it for an incident. A confirmation is
kept once: the first person to confirm is the one recorded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.errors import shown
from opsbook.config.explain import did_you_mean
from opsbook.config.notify import Channel
from opsbook.config.oncall import OncallConfig, Person
from opsbook.notify import notices, outbox, routing
from opsbook.notify.channels import sender_for
from opsbook.notify.events import incident_url
from opsbook.oncall import service
from opsbook.oncall.digest import contact
from opsbook.oncall.models import ReceiptCheck
from opsbook.oncall.service import OncallError
from opsbook.store import Store
from opsbook.store.audit import record


@dataclass(frozen=True)
class Receipt:
    """A test page: to whom, by which channels (outbox ids), and who confirmed it."""

    id: int
    schedule: str
    person: str
    channels: list[str]
    messages: list[int]
    sent_at: dt.datetime
    sent_by: str
    confirmed_at: dt.datetime | None
    confirmed_by: str | None


def _receipt(row: ReceiptCheck) -> Receipt:
    return Receipt(
        row.id,
        row.schedule,
        row.person,
        list(row.channels),
        list(row.messages),
        row.sent_at,
        row.sent_by,
        row.confirmed_at,
        row.confirmed_by,
    )


def paging_channels(config: Config, person: Person) -> list[Channel]:
    """The channels a P0 page takes that can carry a test: PagerDuty (its own policy
    rings its user), Slack (mentioning them), email (to their own address, if known)."""
    on = routing.channels_on(config)
    found = [on[n] for n in routing.route(config, severity="P0", component=None) if n in on]
    return [
        c
        for c in found
        if "test" in sender_for(c).kinds and (c.kind != "email" or person.contacts.email)
    ]


@dataclass(frozen=True)
class Delivery:
    """How the test page went on one channel: delivered, queued (serve sends it) or
    failed, in the outbox's words."""

    channel: str
    status: str
    detail: str
    message: int


def check_delivery(
    *, store: Store, config: Config, schedule: str | None, actor: str, clock: Clock
) -> tuple[Receipt, list[Delivery]]:
    """Queue the test page (committed first: the outbox's record is the page's), then
    send it now through the outbox, each channel's outcome said as it stands."""
    with store.session() as session:
        receipt = send_test_page(
            session=session, config=config, schedule=schedule, actor=actor, clock=clock
        )
    sent = [
        notices.deliver_notice(store, config, message_id=m, clock=clock) for m in receipt.messages
    ]
    return receipt, [Delivery(d.channel, d.status, d.detail, d.message_id) for d in sent]


def send_test_page(
    *, session: Session, config: Config, schedule: str | None, actor: str, clock: Clock
) -> Receipt:
    """Queue a test page to whoever is on call now in `schedule` (the first one when
    None); refused, with nothing queued, when nobody is or no channel reaches them."""
    oncall = config.oncall
    if not oncall.schedules:
        raise OncallError(service.NO_SCHEDULES)
    chosen = service.find_schedule(oncall, schedule) if schedule else oncall.schedules[0]
    now = clock.now()
    people = service.who_is_on_call(session=session, oncall=oncall, schedule=chosen.name, at=now)
    if not people:
        raise OncallError(f"nobody is on call in {chosen.name} now: there is nobody to test")
    person = people[0]
    channels = paging_channels(config, person)
    if not channels:
        raise OncallError(
            f"no channel on the P0 route can reach {person.name}: add a pagerduty, slack or"
            " email channel to notify.channels and notify.routing.P0"
        )
    row = ReceiptCheck(
        schedule=chosen.name, person=person.name, channels=[c.name for c in channels],
        messages=[], sent_at=now, sent_by=actor,
    )  # fmt: skip
    session.add(row)
    session.flush()
    row.messages = [
        outbox.enqueue(
            session,
            channel=c.name,
            kind="test",
            incident_id=None,
            payload=_payload(config, person, row.id, now),
            clock=clock,
            key=f"oncall-check-{row.id}-{c.name}",
        ).id
        for c in channels
    ]
    _audit(session, "oncall.check", row, actor, clock)
    return _receipt(row)


def _payload(config: Config, person: Person, check_id: int, now: dt.datetime) -> dict[str, object]:
    return {
        "project": config.project,
        "incident": {
            "id": 0,
            "title": f"opsbook on-call test page for {person.name}: nothing is wrong",
            "severity": "P3",
            "label": "Test",
            "status": "test",
            "component": None,
            "url": incident_url(config, 0),
        },
        "page": contact(person),
        "due": None,
        "changes": [],
        "text": (
            f"{person.name}: this is a TEST page (opsbook oncall check #{check_id}). Confirm"
            f' you got it: opsbook oncall confirm {check_id} --by "<your name>"'
        ),
        "actor": "opsbook",
        "at": now.isoformat(),
    }


# How many known names a refusal lists: the rota may hold thousands of people.
_NAMES_LISTED = 20


def confirm(
    *, session: Session, oncall: OncallConfig, check_id: int, by: str, actor: str, clock: Clock
) -> Receipt:
    """Record that `by` got test page `check_id`; a second confirmation changes nothing
    and says who confirmed first."""
    name = _known_person(oncall, by)
    row = session.get(ReceiptCheck, check_id, with_for_update=True)
    if row is None:
        raise OncallError(f"no on-call check #{check_id} (opsbook oncall checks lists them)")
    if row.confirmed_by is not None:
        raise OncallError(
            f"check #{check_id} was already confirmed by {row.confirmed_by}"
            f" at {row.confirmed_at:%Y-%m-%d %H:%M %Z}"
        )
    if name.casefold() != row.person.casefold():
        # The record says the page reached its person: someone else's word is not that.
        raise OncallError(
            f"check #{check_id} paged {row.person}, not {name}: only they can confirm it"
            f" reached them (--by {row.person!r})"
        )
    row.confirmed_at, row.confirmed_by = clock.now(), name
    _audit(session, "oncall.confirm", row, actor, clock)
    return _receipt(row)


def _known_person(oncall: OncallConfig, by: str) -> str:
    """The confirming name, which must be one of `oncall.people`: the record says a page
    reached a person of the rota, so a typo or a stranger's name must not stand for one."""
    name = by.strip()
    if not name or len(name) > 200:
        raise OncallError("--by: the name of the person who got the page (1 to 200 characters)")
    if oncall.person(name) is not None:
        return name
    names = [p.name for p in oncall.people]
    if not names:
        raise OncallError(f"{shown(name)} is not a known person: oncall.people lists nobody")
    known = ", ".join(shown(n) for n in names[:_NAMES_LISTED])
    more = f" and {len(names) - _NAMES_LISTED} more" if len(names) > _NAMES_LISTED else ""
    raise OncallError(
        f"{shown(name)} is not a known person{did_you_mean(name, names)};"
        f" oncall.people lists {known}{more}"
    )


def checks(*, session: Session, limit: int = 20) -> list[Receipt]:
    """The latest test pages, newest first, confirmed or not."""
    rows = session.query(ReceiptCheck).order_by(ReceiptCheck.id.desc()).limit(limit)
    return [_receipt(r) for r in rows]


def _audit(session: Session, action: str, row: ReceiptCheck, actor: str, clock: Clock) -> None:
    details = {"schedule": row.schedule, "person": row.person, "channels": row.channels}
    if row.confirmed_by is not None:
        details["confirmed_by"] = row.confirmed_by
    record(
        session,
        action=action,
        target=f"oncall check {row.id}",
        outcome="ok",
        actor=actor,
        details=details,
        clock=clock,
    )
