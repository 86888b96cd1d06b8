"""What one run of one check saw, in words a responder reads at a glance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

State = Literal["ok", "degraded", "down", "error"]


@dataclass
class CheckResult:
    """One run of one check; `component`, `severity` and `runbook` are its check's."""

    name: str
    kind: str
    state: State
    summary: str
    at: dt.datetime
    latency_ms: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    component: str | None = None
    severity: str | None = None
    runbook: str | None = None

    @property
    def ok(self) -> bool:
        """Only "ok" is ok: degraded counts as failing for the debounce."""
        return self.state == "ok"

    def as_dict(self) -> dict[str, Any]:
        """Every field and `ok`, for --json."""
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "ok": self.ok,
            "summary": self.summary,
            "at": self.at,
            "latency_ms": self.latency_ms,
            "metrics": self.metrics,
            "details": self.details,
            "component": self.component,
            "severity": self.severity,
            "runbook": self.runbook,
        }
