"""The 90-day uptime bar: one cell per UTC day from the downsampled history, days without
runs shown as no data, maintenance time left out, incidents named on the days they touched;
and the incident history's pages. On both store backends (the day is counted in SQL)."""

from __future__ import annotations

import datetime as dt

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import service as incidents
from opsbook.status import maintenance, public
from opsbook.status.pages import day_level, day_text
from opsbook.status.view import UPTIME_DAYS, DayView, PublicView
from opsbook.store import Store
from opsbook.watch import history
from opsbook.watch.result import CheckResult, State
from tests.status.factories import past_incident, status_config

UTC = dt.UTC


def _run(store: Store, config: Config, name: str, state: State, at: dt.datetime) -> None:
    result = CheckResult(name=name, kind="http", state=state, summary="", at=at)
    with store.session() as session:
        history.record(session, config.watch.downsample, [result])


def _view(store: Store, config: Config, now: dt.datetime) -> PublicView:
    with store.reading() as session:
        return public.build(session, config=config, now=now)


def _bar(view: PublicView, name: str) -> list[DayView]:
    [component] = [c for c in view.components if c.name == name]
    return view.uptime[component.id]


def test_days_are_utc_days_and_a_day_without_runs_has_no_data(store: Store, store_url: str) -> None:
    config = status_config(store_url)  # the page's zone is Europe/Berlin: days stay UTC
    now = dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    _run(store, config, "api-health-int", "ok", dt.datetime(2026, 2, 28, 12, 0, tzinfo=UTC))
    _run(store, config, "api-health-int", "ok", dt.datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    _run(store, config, "api-version-int", "ok", dt.datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    _run(store, config, "api-version-int", "degraded", dt.datetime(2026, 3, 1, 11, 0, tzinfo=UTC))
    # 23:59 UTC is already the next day in Berlin; the bar counts it on 1 March.
    _run(store, config, "api-health-int", "down", dt.datetime(2026, 3, 1, 23, 59, tzinfo=UTC))
    _run(store, config, "api-health-int", "ok", dt.datetime(2026, 3, 2, 0, 0, tzinfo=UTC))

    bar = _bar(_view(store, config, now), "Web app")

    assert len(bar) == UPTIME_DAYS
    assert bar[0].day == dt.date(2025, 12, 3) and bar[-1].day == dt.date(2026, 3, 2)
    feb28, mar1, mar2 = bar[-3:]
    assert (feb28.runs, feb28.down, feb28.uptime) == (1, 0, 1.0)
    assert (mar1.runs, mar1.down, mar1.uptime) == (4, 1, 0.75)  # degraded counts as up
    assert (mar2.runs, mar2.down) == (1, 0)
    assert all(d.uptime is None for d in bar[:-3])
    assert day_text(bar[0]) == "3 Dec: no data" and day_level(bar[0]) == "none"
    assert day_text(mar1) == "1 Mar: 75% up" and day_level(mar1) == "major"
    email = _bar(_view(store, config, now), "Email")
    assert all(d.uptime is None for d in email)  # never ran: no data, not 100%


def test_maintenance_time_is_not_counted_as_down(
    store: Store, store_url: str, clock: FrozenClock
) -> None:
    config = status_config(store_url)
    start = clock.now() + dt.timedelta(minutes=30)  # 10:00 UTC
    with store.session() as session:
        maintenance.schedule(
            session=session, status=config.status, title="Database upgrade",
            components=["Database"], start=start, end=start + dt.timedelta(hours=1),
            actor="t", clock=clock,
        )  # fmt: skip
    _run(store, config, "pg-main", "ok", start - dt.timedelta(minutes=20))
    _run(store, config, "pg-main", "down", start + dt.timedelta(minutes=10))
    _run(store, config, "pg-main", "down", start + dt.timedelta(minutes=50))
    _run(store, config, "pg-main", "down", start + dt.timedelta(hours=2))  # after it: counts

    clock.advance(dt.timedelta(hours=3))
    today = _bar(_view(store, config, clock.now()), "Database")[-1]

    assert (today.runs, today.down, today.maintenance) == (2, 1, True)
    assert day_text(today) == "2 Mar: 50% up, maintenance (not counted as down)"
    # The other components were not under maintenance.
    assert not _bar(_view(store, config, clock.now()), "Web app")[-1].maintenance


def test_a_day_names_the_public_incidents_that_touched_the_component(
    store: Store, store_url: str, clock: FrozenClock
) -> None:
    config = status_config(store_url)
    _run(store, config, "api-health-int", "ok", clock.now())
    _run(store, config, "api-health-int", "ok", clock.now())
    _run(store, config, "api-health-int", "down", clock.now())
    with store.session() as session:
        incidents.open_incident(
            session, title="internal words", severity="P0", actor="t", clock=clock,
            component="Web app", message="Logins fail.", public=True,
        )  # fmt: skip
        incidents.open_incident(
            session, title="not public", severity="P1", actor="t", clock=clock,
            component="Web app",
        )  # fmt: skip
    clock.advance(dt.timedelta(days=1))  # still open: it touches today too

    view = _view(store, config, clock.now())
    yesterday, today = _bar(view, "Web app")[-2:]

    assert day_text(yesterday) == "2 Mar: 66.66% up, 1 incident: Major outage: Web app"
    assert today.incidents == ("Major outage: Web app",) and today.uptime is None
    assert _bar(view, "Database")[-2].incidents == ()


def test_history_is_paged_by_ninety_days(store: Store, store_url: str, clock: FrozenClock) -> None:
    config = status_config(store_url)
    now = clock.now()
    opened = {}
    for days in (200, 100, 10):
        with store.session() as session:
            at = now - dt.timedelta(days=days)
            opened[days] = past_incident(session, config, at, f"Slow queries, {days} days ago.")
    view = _view(store, config, now)
    with store.reading() as session:
        pages = public.history_pages(session, view=view)
        found = {
            page: [i.id for i in public.history(session, config=config, view=view, page=page)]
            for page in (1, 2, 3)
        }
        old = public.incident(session, config=config, view=view, incident_id=opened[200])

    assert pages == 3
    assert found == {1: [f"i{opened[10]}"], 2: [f"i{opened[100]}"], 3: [f"i{opened[200]}"]}
    assert old is not None and old.updates[-1].body == "Slow queries, 200 days ago."
