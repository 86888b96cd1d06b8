"""The public documents, built once per change and served as bytes.

During an outage every customer refreshes at once, and the page must cost little: a
request answers the cached bytes; at most once per `recheck` seconds one request asks the
store a few cheap questions (`Probe`) and only a changed answer rebuilds the view. A
maintenance starting or ending by its window changes nothing in the store, so the view
also expires at the next window edge it holds, and after REFRESH at the latest (the uptime
bars' today moves with every check run).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.incidents.models import IncidentEvent
from opsbook.status import maintenance, public, statuspage
from opsbook.status.site import JSON, Document
from opsbook.status.view import PublicView
from opsbook.store import Store
from opsbook.watch.models import CheckState

REFRESH = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Probe:
    """Everything the view depends on that a store write changes."""

    last_event: int | None
    maintenances: maintenance.Probe
    checks: tuple[tuple[str, str, bool], ...]  # the failing or unevaluated ones


def probe(session: Session, checks: list[str]) -> Probe:
    last_event = session.scalar(select(func.max(IncidentEvent.id)))
    unusual = session.execute(
        select(CheckState.name, CheckState.state, CheckState.failing)
        .where(CheckState.name.in_(checks), or_(CheckState.failing, CheckState.state == "error"))
        .order_by(CheckState.name)
    )
    found = tuple((name, state, bool(failing)) for name, state, failing in unusual)
    return Probe(last_event, maintenance.probe(session), found)


@dataclass(frozen=True)
class Built:
    view: PublicView
    probe: Probe
    documents: dict[str, Document]  # the Statuspage v2 documents, by path under /api/v2/
    expires: dt.datetime | None  # the next maintenance window edge
    pages: int = 1  # how many incident history pages there are
    # The HTML pages and the feed rendered from this view, by site path, filled as asked.
    rendered: dict[str, Document | None] = field(default_factory=dict)
    misses: set[str] = field(default_factory=set)  # the paths of `rendered` that are None


# Rendered documents kept per view: the paths come from requests (`/status/incidents/ID`),
# so a crawler of made-up ids must not grow the memo without bound. Misses and documents
# are counted apart, and the page, the feed and the stylesheet are always kept: a crawler
# of ids must not leave the page itself rendered anew on every request of a surge.
MEMO = 256
KEPT = frozenset({"index", "feed", "css", "history/1"})


class PublicCache:
    """The current public view and its documents, for every request of one process."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        clock: Clock,
        recheck: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.config, self.clock = store, config, clock
        self.recheck, self.monotonic = recheck, monotonic
        self.builds = 0  # how many times the view was built (tests and /metrics read it)
        self._checks = sorted({c for comp in config.status.components for c in comp.checks})
        self._built: Built | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def fresh(self) -> bool:
        """Whether the cached bytes may be answered without asking the store."""
        return self._built is not None and self.monotonic() - self._checked_at < self.recheck

    def snapshot(self) -> Built | None:
        """The current view when it may be answered without asking the store."""
        built = self._built
        return built if built is not None and self.fresh() else None

    def checking(self, grace: float) -> Built | None:
        """While a request is asking the store, the view it is checking, if that was last
        checked less than `recheck` + `grace` seconds ago: what the surge meanwhile is
        answered (see fastpath), rather than each request queueing on the lock."""
        built = self._built
        if built is None or not self._lock.locked():
            return None
        return built if self.monotonic() - self._checked_at < self.recheck + grace else None

    def rendered(
        self, built: Built, key: str, make: Callable[[], Document | None]
    ) -> Document | None:
        """The document `key` of `built`, rendered once per view (`make` may read the
        store: the web app calls this off the event loop unless the memo has it)."""
        if key in built.rendered:
            return built.rendered[key]
        document = make()
        if document is None:
            if len(built.misses) < MEMO:
                built.misses.add(key)
                built.rendered[key] = None
        elif key in KEPT or len(built.rendered) - len(built.misses) < MEMO:
            built.rendered[key] = document
        return document

    def current(self) -> Built:
        with self._lock:  # one request rebuilds; the others wait and answer its bytes
            if self.fresh() and self._built is not None:
                return self._built
            now = self.clock.now()
            with self.store.reading() as session:
                seen = probe(session, self._checks)
                built = self._built
                if built is None or built.probe != seen or _expired(built, now):
                    built = self._build(session, seen, now)
            self._built, self._checked_at = built, self.monotonic()
            return built

    def _build(self, session: Session, seen: Probe, now: dt.datetime) -> Built:
        view = public.build(session, config=self.config, now=now)
        documents = {path: Document(body, JSON) for path, body in statuspage.encoded(view).items()}
        self.builds += 1
        pages = public.history_pages(session, view=view)
        return Built(view, seen, documents, _next_edge(view, now), pages)


def _expired(built: Built, now: dt.datetime) -> bool:
    return built.expires is not None and now >= built.expires


def _next_edge(view: PublicView, now: dt.datetime) -> dt.datetime:
    """The next maintenance window edge, or REFRESH from now if sooner: the uptime bars
    read check history, which the probe does not watch (every run writes it)."""
    edges = [
        edge
        for m in view.maintenances
        for edge in (m.scheduled_for, m.scheduled_until)
        if edge is not None and edge > now
    ]
    return min([now + REFRESH, *edges])
