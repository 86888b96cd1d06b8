"""The figures as Prometheus metric families, read on every scrape into a registry of the
app's own (two apps in one process, as in the tests, never share or clash).

Check states are one series per state (`opsbook_check_state{check,state}` is 1 for the
current state, 0 for the others), Prometheus's way for an enum (kube-state-metrics'
`kube_pod_status_phase`, OpenMetrics' StateSet): `opsbook_check_state{state="down"} == 1`
is an alert rule, `sum by (state)` a dashboard panel, and no one has to remember that 2
meant down. A number code would also invite averaging states, which means nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from opsbook import __version__
from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.metrics.service import CHECK_STATES, Figures, figures
from opsbook.store import Store
from opsbook.watch.lag import LagMeter

log = logging.getLogger("opsbook.web")


class StoreCollector(Collector):
    """Reads the store once per scrape; a store that cannot answer is reported as
    `opsbook_store_up 0` (once in the log per distinct error), never as a failed scrape."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock,
        lag: LagMeter,
        page_builds: Callable[[], int] | None = None,
    ) -> None:
        self.config, self.store, self.clock, self.lag = config, store, clock, lag
        self.page_builds = page_builds
        self._last_error: str | None = None

    def collect(self) -> Iterator[Metric]:
        info = InfoMetricFamily("opsbook_build", "The running opsbook's version.")
        info.add_metric([], {"version": __version__})
        yield info
        read = self._read()
        yield GaugeMetricFamily(
            "opsbook_store_up", "Whether the store answered this scrape.", value=int(bool(read))
        )
        if read is not None:
            yield from _store_families(read)
        yield from _lag_families(self.lag)
        if self.page_builds is not None:
            yield CounterMetricFamily(
                "opsbook_status_page_builds",
                "How many times the public status view was rebuilt since serve started.",
                value=self.page_builds(),
            )

    def _read(self) -> Figures | None:
        try:
            with self.store.reading() as session:
                found = figures(session, config=self.config, now=self.clock.now())
        except Exception as exc:  # a scrape must answer while the store is down
            if str(exc) != self._last_error:
                log.warning("/metrics could not read the store: %s", exc)
            self._last_error = str(exc)
            return None
        self._last_error = None
        return found


def registry(collector: Collector) -> CollectorRegistry:
    """A registry of this app's own; `auto_describe` off, so registering reads nothing."""
    own = CollectorRegistry(auto_describe=False)
    own.register(collector)
    return own


def _store_families(found: Figures) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        "opsbook_check_state",
        "1 for each scheduled check's current state (unknown: not run yet), 0 for the others.",
        labels=["check", "state"],
    )
    latency = GaugeMetricFamily(
        "opsbook_check_latency_seconds",
        "How long each check's last run took to answer (absent when it measured none).",
        labels=["check"],
    )
    for check in found.checks:
        for name in CHECK_STATES:
            state.add_metric([check.name, name], int(check.state == name))
        if check.latency_seconds is not None:
            latency.add_metric([check.name], check.latency_seconds)
    yield state
    yield latency
    yield _by("opsbook_alerts", "Alerts not yet resolved, by state.", "state", found.alerts)
    yield _by(
        "opsbook_incidents_open",
        "Incidents not yet resolved, by severity.",
        "severity",
        found.incidents,
    )
    yield _by(
        "opsbook_outbox_messages",
        "Notifications waiting (pending), being sent, or given up on (dead), by state.",
        "state",
        found.outbox,
    )
    yield GaugeMetricFamily(
        "opsbook_outbox_oldest_pending_age_seconds",
        "How long the oldest pending notification has waited (0 when none is pending).",
        value=found.oldest_pending_seconds,
    )
    yield _by("opsbook_runbook_runs", "Runbook runs recorded, by status.", "status", found.runs)


def _by(name: str, documentation: str, label: str, counts: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in counts.items():
        family.add_metric([value], count)
    return family


def _lag_families(meter: LagMeter) -> Iterator[Metric]:
    lag = meter.figures()
    histogram = HistogramMetricFamily(
        "opsbook_scheduler_lag_seconds",
        "How late each check run started against its schedule.",
    )
    buckets = [(_bound(b), float(count)) for b, count in lag.buckets]
    histogram.add_metric([], buckets, sum_value=lag.total)
    yield histogram
    if lag.last_round is not None:
        yield GaugeMetricFamily(
            "opsbook_scheduler_last_round_lag_seconds",
            "The latest launch round's largest start lag.",
            value=lag.last_round,
        )


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
