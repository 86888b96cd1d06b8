"""Two escalation engines on one store (two processes' worth: separate engines and
connection pools) taking the same due steps at the same instant: each page once."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sqlalchemy import select

from opsbook.incidents import service as incidents
from opsbook.notify import service as notify
from opsbook.notify.models import Notification
from opsbook.oncall import paging
from opsbook.store import Store, open_store
from tests.notify.fakes import FakePagerDuty, FakeSlack
from tests.oncall.paging_desk import Pages, config_for, smtp
from tests.oncall.test_paging import MONDAY


def _together(stores: list[Store], pages: Pages) -> None:
    """Run one round in every store at once, released by one barrier."""
    barrier = threading.Barrier(len(stores))
    failures: list[BaseException] = []

    def run(store: Store) -> None:
        barrier.wait()
        try:
            paging.tick(store, pages.desk.config, clock=pages.desk.clock)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_two_engines_page_each_step_exactly_once(
    desk_for: Any, store_url: str, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    with smtp() as mail:
        desk = desk_for(config_for(slack, pagerduty, mail))
        desk.clock.set(MONDAY)
        other = open_store(store_url)
        notify.attach(other, desk.config)
        try:
            pages = Pages(desk, slack, mail)
            opened = [desk.open("P0", f"Outage {n}") for n in range(8)]
            for _ in range(5):
                _together([desk.store, other, desk.store, other], pages)
                desk.later(minutes=5)
            _together([desk.store, other], pages)  # the last level
            desk.later(minutes=1)  # every rate-limit window closes: the digests go
            _together([desk.store, other], pages)
            with desk.store.reading() as session:
                keys = [n.key for n in session.scalars(select(Notification))]
            assert [k for k, n in Counter(keys).items() if n > 1] == []
            for incident in opened:
                paged = [line for line in pages.lines(incident) if line.startswith("paged")]
                assert len(paged) == 6  # three levels, twice
            # Alice's first page of a round went out once, the other seven folded away.
            with desk.store.reading() as session:
                alice = [
                    n
                    for n in session.scalars(
                        select(Notification).where(Notification.kind == "page")
                    )
                    if n.payload["page"]["person"] == "Alice"
                ]
                digests = session.scalars(
                    select(Notification).where(Notification.kind == "digest")
                ).all()
            # Level 1 twice (the policy repeats), by Slack and email each time.
            assert len(alice) == 4
            # Every page folded by a rate limit is in exactly one digest per channel.
            folded = 0
            with desk.store.reading() as session:
                for incident in opened:
                    for event in incidents.timeline(session, incident_id=incident, kind="paging"):
                        folded += sum(1 for p in event.data["people"] if p["folded"])
            by_channel = Counter[str]()
            for d in digests:
                by_channel[d.channel] += d.payload["digest"]["count"]
            assert folded > 0
            assert by_channel == {"slack-incidents": folded, "email-escalation": folded}
        finally:
            other.close()
