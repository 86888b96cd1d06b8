"""Prometheus Alertmanager's webhook (version 4) fed into opsbook's alert lifecycle.

One payload is one Alertmanager group, and one group is one incident: each alert carries
its `groupKey`, and routing sends it to the open incident its group went to. The key is
internal and never shown; an alert's component is a name people use (`component_of`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.secrets import mask_text
from opsbook.store import Store
from opsbook.watch import alerts, routing

# Rule, component and runbook names are String(200) columns in the store.
NAME_LIMIT = 200


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
    """Move an alert per item of the group, in one transaction (then rank runbooks for the
    incidents it opened); returns the group and how many alerts ended in each state."""
    group = _fit(payload.groupKey)
    states: dict[str, int] = {}
    routed: list[routing.Routed] = []
    with store.session() as session:
        for item in payload.alerts:
            name = item.labels.get("alertname", "alertmanager")
            severity_label = item.labels.get("severity", "warning")
            summary = (
                item.annotations.get("summary", "").strip()
                or item.annotations.get("description", "").strip()
                or f"{name} ({', '.join(f'{k}={v}' for k, v in sorted(item.labels.items()))})"
            )
            runbook = item.annotations.get("runbook")
            signal = alerts.Signal(
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
                component=component_of(item.labels, payload.groupLabels),
                runbook=_fit(runbook) if runbook else None,
                group=group,
            )
            step = alerts.apply_many(session, [signal], config=config, clock=clock)
            routed.extend(step.routed)
            [alert] = step.alerts
            state = alert.state if alert else "ignored"
            states[state] = states.get(state, 0) + 1
    routing.suggest_runbooks(store, config, routed, clock=clock)  # committed: now rank
    return {"group": payload.groupKey, "alerts": len(payload.alerts), "states": states}


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
