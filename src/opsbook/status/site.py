"""The status page's documents, by site path: what `opsbook serve` answers under /status and
what the static export writes. One function per document; each reads a `PublicView` (and,
for history older than the view holds, `public.history` / `public.incident`), never the
store by itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.orm import Session

from opsbook.bounds import MAX_ID
from opsbook.config import Config
from opsbook.status import public
from opsbook.status.pages import Links, Renderer, stylesheet
from opsbook.status.view import IncidentView, PublicView

HTML = "text/html; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
CSS = "text/css; charset=utf-8"
JSON = "application/json; charset=utf-8"
# A public incident id as the JSON API writes it (`i12`, a maintenance `m3`); a bare
# number is an incident too. Past MAX_ID it is refused before it reaches the store (where
# PostgreSQL would answer "integer out of range").
PUBLIC_ID = re.compile(r"([im]?)([0-9]{1,10})")
HISTORY_PAGE = re.compile(r"[0-9]{1,6}")


@dataclass(frozen=True)
class Document:
    body: bytes
    media: str

    @cached_property  # a surge asks for it on every request; hashing 70 KB costs 40 us
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'


def index(view: PublicView, links: Links, *, pages: int) -> Document:
    return Document(Renderer(view).index(links, pages=pages).encode(), HTML)


def feed(view: PublicView, links: Links) -> Document:
    return Document(Renderer(view).feed(links).encode(), ATOM)


def css() -> Document:
    return Document(stylesheet(), CSS)


def history_page(
    session: Session, *, config: Config, view: PublicView, links: Links, page: int, pages: int
) -> Document | None:
    """History page `page` of `pages`; None past the last one."""
    if not 1 <= page <= pages:
        return None
    incidents = public.history(session, config=config, view=view, page=page)
    html = Renderer(view).history(links, incidents=incidents, page=page, pages=pages)
    return Document(html.encode(), HTML)


def parse_page(text: str | None) -> int | None:
    """`?page=` as a number; None for anything else (the caller answers 404)."""
    if text is None:
        return 1
    return int(text) if HISTORY_PAGE.fullmatch(text) else None


def find_incident(
    session: Session, *, config: Config, view: PublicView, public_id: str
) -> IncidentView | None:
    """The public incident or maintenance called `public_id`; None when there is none, or
    it has nothing public."""
    match = PUBLIC_ID.fullmatch(public_id)
    if match is None:
        return None
    kind, number = match.group(1), int(match.group(2))
    if not 1 <= number <= MAX_ID:
        return None
    if kind == "m":
        return next((m for m in view.maintenances if m.id == f"m{number}"), None)
    return public.incident(session, config=config, view=view, incident_id=number)


def incident_page(view: PublicView, links: Links, incident: IncidentView) -> Document:
    return Document(Renderer(view).incident(links, incident).encode(), HTML)
