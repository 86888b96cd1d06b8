"""Prometheus Alertmanager's webhook (version 4) fed into opsbook's alert lifecycle.

One payload is one Alertmanager group, and one group is one incident: each alert carries
its `groupKey`, and routing sends it to the open incident its group went to. The key is
internal and never shown; an alert's component is a name people use (`component_of`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.secrets import mask_text
from opsbook.incidents import service as incidents
from opsbook.store import Store
from opsbook.watch import alerts, exclusive, routing, timeline

# Rule, component and runbook names are String(200) columns in the store.
NAME_LIMIT = 200
# Alerts per transaction: SQLite's write lock is held for about 0.1 s a chunk, so a person's
# command and /healthz wait that long at most, while a group of 8,000 stays a few seconds.
CHUNK = 250
TRUNCATED = "alerts.truncated"
log = logging.getLogger("opsbook.watch")


class AmAlert(BaseModel):
    """One alert of a webhook payload, in Alertmanager's field names."""

    model_config = ConfigDict(extra="allow")
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: dt.datetime  # noqa: N815 - Alertmanager's field names
    endsAt: dt.datetime | None = None  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str = ""


class AmPayload(BaseModel):
    """Alertmanager's webhook payload, version 4: one notification for one group."""

    model_config = ConfigDict(extra="allow")
    version: Literal["4"]
    groupKey: str  # noqa: N815
    truncatedAlerts: int = Field(default=0, ge=0, le=2**64 - 1)  # noqa: N815 - a uint64
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = {}  # noqa: N815
    commonLabels: dict[str, str] = {}  # noqa: N815
    commonAnnotations: dict[str, str] = {}  # noqa: N815
    externalURL: str = ""  # noqa: N815
    alerts: list[AmAlert] = Field(min_length=1)


def receive(store: Store, config: Config, payload: AmPayload, *, clock: Clock) -> dict[str, Any]:
    """Move an alert per item of the group, CHUNK items per transaction (then rank runbooks
    for the incidents each chunk opened); note alerts Alertmanager left out on their
    incidents. Returns the group and how many alerts ended in each state.

    Each chunk is whole when it commits: its alerts moved and routed, their timeline lines
    written. A process killed between chunks leaves the rest to Alertmanager, which sends
    the whole group again (no 2xx came back), and a stored alert seen again changes no
    state and writes no line: processing a group twice is processing it once.
    """
    group = _fit(payload.groupKey)
    signals = [_signal(item, config, payload.groupLabels, group) for item in payload.alerts]
    final: dict[int, str] = {}  # alert id -> its state once the group is stored
    ignored = 0
    incident_ids: set[int] = set()
    for start in range(0, len(signals), CHUNK):
        store.give_way()  # a person's command waiting for the store goes before this chunk
        with store.session() as session:
            step = alerts.apply_many(
                session, signals[start : start + CHUNK], config=config, clock=clock
            )
        for alert in step.alerts:
            if alert is None:
                ignored += 1
                continue
            # One alert twice in a group (firing, then resolved) is one alert: count it once.
            final[alert.id] = alert.state
            if alert.incident_id is not None:
                incident_ids.add(alert.incident_id)
        routing.suggest_runbooks(store, config, step.routed, clock=clock)  # committed: rank
    states = dict(Counter(final.values()))
    if ignored:
        states["ignored"] = ignored
    if payload.truncatedAlerts:
        _note_truncated(store, payload, incident_ids, clock=clock)
    return {
        "group": payload.groupKey,
        "alerts": len(payload.alerts),
        "truncated": payload.truncatedAlerts,
        "states": states,
    }


def _note_truncated(
    store: Store, payload: AmPayload, incident_ids: set[int], *, clock: Clock
) -> None:
    """Say on each incident the group's alerts are on that Alertmanager left some out (its
    receiver's `max_alerts`): the responder sees a part of the outage, not all of it. Once
    per count: Alertmanager repeats a group every repeat_interval, the timeline need not."""
    count, group = payload.truncatedAlerts, _fit(payload.groupKey)
    log.warning("Alertmanager group %s: %d more alerts were not sent (max_alerts)", group, count)
    data = {"group": group, "truncated": count}
    text = (
        f"{count:,} more alert{'s' if count != 1 else ''} of this Alertmanager group "
        f"{'were' if count != 1 else 'was'} not sent (its max_alerts): see Alertmanager for all"
    )
    with store.session() as session:
        exclusive.hold_alert_lock(session)  # two serves given one group note it once
        for incident_id in sorted(incident_ids):
            noted = incidents.timeline(session, incident_id=incident_id, kind=TRUNCATED)
            if [e.data for e in noted if e.data.get("group") == group][-1:] == [data]:
                continue  # the same news, told already
            incident = incidents.get(session, incident_id=incident_id)
            incidents.log_event(
                session,
                incident=incident,
                kind=TRUNCATED,
                actor=timeline.ACTOR,
                clock=clock,
                text=text,
                data=data,
            )


def _signal(
    item: AmAlert, config: Config, group_labels: dict[str, str], group: str
) -> alerts.Signal:
    name = item.labels.get("alertname", "alertmanager")
    severity_label = item.labels.get("severity", "warning")
    summary = (
        item.annotations.get("summary", "").strip()
        or item.annotations.get("description", "").strip()
        or f"{name} ({', '.join(f'{k}={v}' for k, v in sorted(item.labels.items()))})"
    )
    runbook = item.annotations.get("runbook")
    return alerts.Signal(
        rule=_fit(f"alertmanager:{name}"),
        source="alertmanager",
        labels=dict(item.labels),
        level=None
        if item.status == "resolved"
        else "crit"
        if severity_label in ("critical", "page")
        else "warn",
        summary=mask_text(summary),
        severity=config.alertmanager.severity.get(severity_label, "P2"),
        component=component_of(item.labels, group_labels),
        runbook=_fit(runbook) if runbook else None,
        group=group,
    )


def component_of(labels: dict[str, str], group_labels: dict[str, str]) -> str | None:
    """The component an alert is about, in the words of its labels: its `component` or
    `service` label, else its group's labels as written (`alertname=GrpAlert`).

    Never `commonLabels`: they shrink as alerts with other labels join the group, and the
    component would change under an open incident. Never the group key: it is internal.
    (A group's labels are every one of its alerts' labels, so they never change.)
    """
    named = (labels.get("component") or labels.get("service") or "").strip()
    if named:
        return _fit(named)
    if not group_labels:
        return None
    return _fit(", ".join(f"{k}={v}" for k, v in sorted(group_labels.items())))


def _fit(name: str, limit: int = NAME_LIMIT) -> str:
    """A name cut to what the store's columns hold, with a digest of the whole so that two
    long names still differ: a long group key is valid Alertmanager, not a reason to fail."""
    if len(name) <= limit:
        return name
    return name[: limit - 17] + "~" + hashlib.sha256(name.encode()).hexdigest()[:16]
