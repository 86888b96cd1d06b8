"""What an Alertmanager sends opsbook's receiver, for tests and benchmarks: one group of
firing alerts in webhook version 4, shaped like the storm of issue #12 (8,000 alerts in
about 1.4 MB, so some 175 bytes an alert)."""

from __future__ import annotations

from typing import Any


def alert_group(count: int, *, truncated: int = 0) -> dict[str, Any]:
    """One group, `HighErrorRate` of service `api`, of `count` firing alerts (one per
    instance); `truncated` more left out as Alertmanager's `max_alerts` does."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": truncated,
        "status": "firing",
        "receiver": "opsbook",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"service": "api", "alertname": "HighErrorRate"},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "instance": f"web-{n}"},
                "annotations": {"summary": f"5xx above 5% on web-{n}"},
                "startsAt": "2026-03-02T09:00:00Z",
                "fingerprint": f"{n:016x}",
            }
            for n in range(count)
        ],
    }
