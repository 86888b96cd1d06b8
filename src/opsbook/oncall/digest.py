"""A person's rate limit: the first page in a window goes out, later ones are folded
into the window's row, and one digest listing them goes out when the window closes.

"One person paged by ten alerts in a minute gets one page that says ten" (issue 13): a
phone buzzing ten times in a minute is read as noise. The window row is also the lock:
whoever decides to page a person holds it (SELECT ... FOR UPDATE) until they commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.oncall import Person
from opsbook.notify import outbox, routing
from opsbook.oncall.models import PagingWindow
from opsbook.store import Store

KEY_LIMIT = 255  # the outbox's key column


def person(config: Config, name: str) -> Person:
    # An acknowledger who is not among `people` (a shell user name) has no contacts. The
    # name is a timeline actor, free-form (`OPSBOOK_ACTOR=" "`): kept as written even when
    # it is no valid person name, since refusing it would stop the incident's escalation.
    found = config.oncall.person(name)
    if found is not None:
        return found
    try:
        return Person(name=name)
    except ValidationError:
        return Person.model_construct(name=name)


def lock_windows(session: Session, names: Sequence[str]) -> dict[str, PagingWindow]:
    """Each person's window row, created if new, locked in name order."""
    windows = {}
    for name in names:
        row = _window(session, name)
        if row is None:
            try:
                with session.begin_nested():
                    session.add(PagingWindow(person=name, opened_at=None, folded=[]))
            except IntegrityError:
                pass  # another process made it first: lock theirs
            row = _window(session, name)
        assert row is not None
        windows[name] = row
    return windows


def _window(session: Session, name: str) -> PagingWindow | None:
    query = select(PagingWindow).where(PagingWindow.person == name).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).first()


def outbox_key(*parts: object) -> str:
    """A step's message key; a long one (a 200-character name) keeps its head and a hash
    of the whole, so it stays unique within the column's 255 characters."""
    key = ":".join(str(p) for p in parts)
    if len(key) <= KEY_LIMIT:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{key[: KEY_LIMIT - 33]}~{digest}"


def contact(person: Person) -> dict[str, Any]:
    return {
        "person": person.name,
        "email": person.contacts.email,
        "slack_user_id": person.contacts.slack_user_id,
    }


def admit(window: PagingWindow, now: Any, config: Config, item: dict[str, Any]) -> bool:
    """Whether a page to this person goes out now (opening a window), or is folded into
    the digest the open window sends when it closes."""
    limit = config.escalation.rate_limit
    if window.opened_at is not None and now < window.opened_at + limit:
        window.folded = [*window.folded, item]
        return False
    window.opened_at = now
    return True


def close_windows(store: Store, config: Config, *, clock: Clock) -> int:
    """Send the digest of every window that closed with pages folded into it."""
    now, limit = clock.now(), config.escalation.rate_limit
    with store.reading() as session:
        rows = session.scalars(select(PagingWindow).where(PagingWindow.opened_at.is_not(None)))
        names = [w.person for w in rows if w.folded and _closed(w, now, limit)]
    sent = 0
    for name in sorted(names):
        with store.session() as session:
            window = _window(session, name)  # locked: another process may have sent it
            if window is not None and window.folded and _closed(window, now, limit):
                sent += send_digest(session, config, window, clock=clock)
    return sent


def _closed(window: PagingWindow, now: dt.datetime, limit: dt.timedelta) -> bool:
    return window.opened_at is not None and window.opened_at + limit <= now


def send_digest(session: Session, config: Config, window: PagingWindow, *, clock: Clock) -> int:
    """One message per channel the folded pages would have used, listing them all; the
    key names the window, so a digest is queued once however many processes close it."""
    items, opened = list(window.folded), window.opened_at
    window.folded = []
    found = person(config, window.person)
    on = routing.channels_on(config)
    wanted = dict.fromkeys(name for item in items for name in item.get("channels", []))
    payload = digest_payload(config, found, items)
    sent = 0
    for name in wanted:
        if name in on:
            when = opened.isoformat() if opened else ""
            key = outbox_key("digest", found.name, when, name)
            outbox.enqueue(
                session,
                channel=name,
                kind="digest",
                incident_id=None,
                payload=payload,
                clock=clock,
                key=key,
            )
            sent += 1
    return sent


def digest_payload(
    config: Config, found: Person, items: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """The digest as the channels read a message: its `incident` is a heading (the
    first incident's number, no thread key), its text the list."""
    count = len(items)
    noun = "page" if count == 1 else "pages"
    numbers = list(dict.fromkeys(int(i["incident"]) for i in items))
    lines = [f"{count} more {noun} for {found.name}, held back by the rate limit:"]
    for item in items:
        level = f", level {item['level']}" if item.get("level") else ""
        # A reminder says which update fell due: "remind" alone tells the lead nothing.
        level += f": {item['label']} due" if item.get("label") else ""
        lines.append(
            f"[{item['severity']}] Incident #{item['incident']}: {item['title']}"
            f" ({item['what']}{level})"
        )
    worst = min((str(i["severity"]) for i in items), default="P0")
    many = f"{len(numbers)} incident" + ("" if len(numbers) == 1 else "s")
    return {
        "project": config.project,
        "incident": {
            "id": numbers[0] if numbers else 0,
            "title": f"{count} more {noun} for {found.name} ({many})",
            "severity": worst,
            "label": config.severity(worst).label,
            "status": "digest",
            "component": None,
        },
        "page": contact(found) | {"what": "digest", "count": count},
        "digest": {"person": found.name, "count": count, "items": list(items)},
        "due": None,
        "changes": [],
        "text": "\n".join(lines),
    }
