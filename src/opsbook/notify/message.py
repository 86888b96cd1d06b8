"""What one notification says, as stored in the outbox and handed to a channel.

The payload is a snapshot taken in the event's transaction: a message retried an hour
later still says what was true when it was written (severity, status, the due clock),
not what is true when it finally gets through."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal

from opsbook.bounds import parse_id
from opsbook.console import visible

Kind = Literal["trigger", "update", "acknowledge", "resolve", "test"]
KINDS: tuple[Kind, ...] = ("trigger", "update", "acknowledge", "resolve", "test")
# Customer email (notify.customers): one message per recipient, its text rendered when it
# was queued. They keep no order with the responders' messages (see outbox._claimable).
CUSTOMER_UPDATE, CUSTOMER_ALL_CLEAR = "customer_update", "customer_all_clear"
CUSTOMER_KINDS = (CUSTOMER_UPDATE, CUSTOMER_ALL_CLEAR)
# Escalation's kinds (oncall/paging.py): a person paged, everyone told again, the lead
# reminded, and the digest of pages a person's rate limit held back.
PAGING_KINDS = frozenset({"page", "renotify", "remind", "digest"})

# What each kind announces, in a message's first words.
HEADLINES: dict[str, str] = {
    "trigger": "New incident",
    "update": "Update",
    "acknowledge": "Acknowledged",
    "resolve": "Resolved",
    "test": "TEST message from opsbook (safe to ignore)",
    "page": "Paging",
    "renotify": "Still no update",
    "remind": "Reminder",
    "digest": "More pages",
    "notice": "Notice",
}
# A runbook's line for a team's channel (notify/notices.py): its text alone, no incident card.
NOTICE = "notice"


@dataclass(frozen=True)
class Message:
    """One outbox row on its way out. `key` is its idempotency key: the same on every
    attempt, so a receiver that keeps keys drops a repeat."""

    id: int
    key: str
    channel: str
    kind: str
    payload: dict[str, Any]
    attempt: int = 1

    @property
    def incident(self) -> dict[str, Any]:
        found = self.payload.get("incident")
        return found if isinstance(found, dict) else {}

    @property
    def changes(self) -> list[str]:
        return [str(c) for c in self.payload.get("changes", [])]

    @property
    def text(self) -> str:
        return str(self.payload.get("text") or "")

    @property
    def page(self) -> dict[str, Any]:
        """Whom an escalation message is for: `person`, `email`, `slack_user_id`."""
        found = self.payload.get("page")
        return found if isinstance(found, dict) else {}

    @property
    def is_test(self) -> bool:
        return self.kind == "test"

    def summary(self, limit: int) -> str:
        """`[P0] Incident #12: title`, on one line, at most `limit` characters."""
        incident = self.incident
        prefix = "[TEST] " if self.is_test else ""
        head = f"{prefix}[{incident.get('severity', '?')}] Incident #{incident.get('id', '?')}: "
        return cut(head + one_line(str(incident.get("title", ""))), limit)


def incident_key(project: str, incident_id: int) -> str:
    """The incident's stable key (PagerDuty's dedup_key, the email thread's root): the
    same for its whole life, and distinct between two projects paging one service."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", project).strip("-")[:100] or "opsbook"
    return f"{slug}-incident-{incident_id}"


def incident_for_key(project: str, key: str) -> int | None:
    """The incident a key names, when it is this project's key (`incident_key` read back);
    None for any other (another project's, another tool's, or nonsense)."""
    head, _, number = key.rpartition("-incident-")
    try:
        incident_id = parse_id(number)
    except ValueError:
        return None
    return incident_id if incident_key(project, incident_id) == key and head else None


def one_line(text: str) -> str:
    """Text as one visible line: line breaks, NUL, escape sequences and bidi overrides
    shown as escapes (a title cannot add a header to an email or a line to a page)."""
    return visible(text)


def many_lines(text: str) -> str:
    return visible(text, newlines=True)


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis saying something was cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def due_text(payload: dict[str, Any]) -> str:
    """`respond by 09:35 UTC`, or `nothing due`."""
    due = payload.get("due")
    if not isinstance(due, dict):
        return "nothing due"
    at = dt.datetime.fromisoformat(str(due["at"]))
    return f"{due['label']} by {at:%H:%M} UTC ({due['state']})"
