"""The resolve guard's arithmetic: how long the fix has held in monitoring, and the words
for a resolve that comes too early (the seed: monitor for 15 minutes before resolving)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from opsbook.config.models import IncidentPolicy
from opsbook.incidents.lifecycle import Status
from opsbook.incidents.models import IncidentEvent


def too_early(
    current: Status, monitored: dt.timedelta, policy: IncidentPolicy, now: dt.datetime
) -> str:
    if current is Status.MONITORING:
        ready = (now + policy.monitor_for - monitored).strftime("%H:%M UTC")
        return (
            f"it has been monitoring for {minutes(monitored)} of the "
            f"{minutes(policy.monitor_for)} the runbook asks for (ready at {ready})"
        )
    return (
        f"it is {current.value}, not monitoring; the runbook asks for "
        f"{minutes(policy.monitor_for)} of monitoring after the fix"
    )


def monitored_for(
    events: Sequence[IncidentEvent], current: Status, now: dt.datetime
) -> dt.timedelta:
    if current is not Status.MONITORING:
        return dt.timedelta(0)
    since = max(e.at for e in events if e.kind == "status" and e.data.get("to") == "monitoring")
    return now - since


def minutes(delta: dt.timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)} min"
