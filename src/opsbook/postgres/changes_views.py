"""Refreshing materialized views, planned then done: the named views (or all), or the
function that refreshes them; each refresh audited as `db.view.refresh`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from opsbook.clock import Clock
from opsbook.postgres import views
from opsbook.postgres.changes import Connection
from opsbook.postgres.errors import Named
from opsbook.postgres.views import MaterializedView, Refreshed, ViewError
from opsbook.store import Store
from opsbook.store.audit import audited


@dataclass(frozen=True)
class RefreshPlan:
    """The views to refresh, or the function that refreshes them."""

    views: list[MaterializedView]
    function: str | None = None


@dataclass(frozen=True)
class ViewsRefreshed:
    """The views refreshed, or the function called, and how long it took."""

    refreshed: list[Refreshed]
    function: str | None = None
    seconds: float = 0.0


def plan_refresh(
    *, conn: Connection, names: Sequence[str] = (), function: str | None = None
) -> RefreshPlan:
    """The named views (every one when none is named), or a function taking no arguments.
    An unknown name refuses them all."""
    if function and names:
        raise ViewError(
            "name ", Named("names", "views"), " or ", Named("function", "a function"), ", not both"
        )
    if function:
        views.function(conn, function)
        return RefreshPlan([], function)
    return RefreshPlan(views.resolve(conn, list(names)))


def refresh_views(
    *, conn: Connection, plan: RefreshPlan, store: Store, actor: str, clock: Clock
) -> ViewsRefreshed:
    """Refresh each planned view (CONCURRENTLY where it can) or call the function; each
    audited as `db.view.refresh`, which is where `list_views` finds the last refresh."""
    if plan.function:
        with audited(
            store, action="db.view.refresh", target=plan.function, actor=actor, clock=clock
        ):
            seconds = views.call_function(conn, plan.function)
        return ViewsRefreshed([], plan.function, seconds)
    done: list[Refreshed] = []
    for view in plan.views:
        with audited(
            store, action="db.view.refresh", target=view.qualified, actor=actor, clock=clock
        ) as record:
            refreshed = views.refresh_one(conn, view)
            record.details["concurrently"] = refreshed.concurrently
        done.append(refreshed)
    return ViewsRefreshed(done, seconds=sum(r.seconds for r in done))
