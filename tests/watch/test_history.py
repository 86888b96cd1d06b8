"""Downsampled history: every stored batch lands in each tier's bucket, in the same
transaction as the check states; old buckets go after their tier's `keep`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from opsbook.clock import FrozenClock
from opsbook.config import Config, ConfigError, load_config
from opsbook.store import Store
from opsbook.watch import history, service
from opsbook.watch.models import CheckHistory, MetricHistory, Sample
from opsbook.watch.result import CheckResult

MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def config() -> Config:
    return Config.model_validate(
        {
            "watch": {
                "retention": "1h",
                "downsample": [{"every": "1h", "keep": "30d"}, {"every": "5m", "keep": "1d"}],
            },
            "checks": [
                {"name": "web", "kind": "http", "url": "http://127.0.0.1:9/"},
                {"name": "db", "kind": "postgres"},
            ],
            "alerts": {"rules": [{"name": "conn", "metric": "db_connections_used", "crit": 0.9}]},
        }
    )


def result(
    name: str, state: str, at: dt.datetime, latency: float | None = None, **metrics: float
) -> CheckResult:
    return CheckResult(name, "http", state, state, at, latency, dict(metrics))  # type: ignore[arg-type]


def test_tiers_are_sorted_and_validated(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"watch": {"downsample": [{"every": "1h", "keep": "1y"}, {"every": "5m", "keep": "7d"}]}}
    )
    assert [t.every for t in config.watch.downsample] == [5 * MINUTE, 60 * MINUTE]
    bad = tmp_path / "opsbook.yaml"
    bad.write_text("watch:\n  downsample:\n    - every: 1h\n      keep: 30m\n")
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert "opsbook.yaml:4:13: watch.downsample[0].keep:" in str(caught.value)
    assert "30m must be longer than every (1h)" in str(caught.value)
    bad.write_text("watch:\n  downsample:\n    - {every: 5s, keep: 1d}\n")
    with pytest.raises(ConfigError, match="5s is finer than 10s"):
        load_config(bad)
    bad.write_text(
        "watch:\n  downsample:\n    - {every: 5m, keep: 1d}\n    - {every: 5m, keep: 2d}\n"
    )
    with pytest.raises(ConfigError, match="two tiers with every 5m"):
        load_config(bad)


def test_buckets_are_aligned_on_the_epoch() -> None:
    at = dt.datetime(2026, 3, 1, 10, 7, 31, tzinfo=dt.UTC)
    assert history.bucket_of(at, 5 * MINUTE) == dt.datetime(2026, 3, 1, 10, 5, tzinfo=dt.UTC)
    assert history.bucket_of(at, 60 * MINUTE) == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)


def test_batches_fold_into_every_tier(store: Store, config: Config, clock: FrozenClock) -> None:
    start = history.bucket_of(clock.now(), 60 * MINUTE)
    clock.set(start)
    # Two batches into the same buckets: sums add and extremes widen across statements.
    first = [
        result("web", "ok", start, 20.0),
        result("web", "down", start + MINUTE),
        result("db", "ok", start, db_connections_used=0.5),
    ]
    second = [
        result("web", "degraded", start + 2 * MINUTE, 80.0),
        result("web", "ok", start + 6 * MINUTE, 40.0),
        result("db", "ok", start + 6 * MINUTE, db_connections_used=0.95),
        result("db", "error", start + 7 * MINUTE, db_connections_used=0.25),
    ]
    service.process_results(store, config, first, clock=clock)
    service.process_results(store, config, second, clock=clock)
    with store.session() as session:
        hourly = session.get(CheckHistory, ("web", 3600, start))
        assert hourly is not None
        assert (hourly.runs, hourly.ok, hourly.degraded, hourly.down) == (4, 2, 1, 1)
        assert (hourly.timed, hourly.latency_sum, hourly.latency_max) == (3, 140.0, 80.0)
        five = session.get(CheckHistory, ("web", 300, start))
        assert five is not None and (five.runs, five.down, five.latency_max) == (3, 1, 80.0)
        db = session.get(MetricHistory, ("db_connections_used", "db", 3600, start))
        assert db is not None
        assert (db.count, db.total, db.low, db.high) == (3, 1.7, 0.25, 0.95)
        # Check-history metrics are not stored twice.
        assert session.scalar(select(func.count()).where(MetricHistory.name == "up")) == 0

        up = history.uptime(session, config.watch.downsample, since=start, now=start + 10 * MINUTE)
        assert up["web"].uptime == 0.75 and up["web"].latency_avg_ms == pytest.approx(140 / 3)
        # "error" (the check could not run) counts as down: nobody saw it up.
        assert up["db"].down == 1 and up["db"].uptime == pytest.approx(2 / 3)
        series = history.check_series(
            session, config.watch.downsample, ["web"], since=start, now=start + 10 * MINUTE
        )
        assert list(series) == ["web"]  # only the checks asked about
        assert [(b, u.runs, u.down) for b, u in series["web"]] == [
            (start, 3, 1),
            (start + 5 * MINUTE, 1, 0),
        ]
        metric = history.metric_series(
            session,
            config.watch.downsample,
            "db_connections_used",
            since=start,
            now=start + 10 * MINUTE,
        )
        assert [(b.start, b.count, b.high) for b in metric] == [
            (start, 1, 0.5),
            (start + 5 * MINUTE, 2, 0.95),
        ]


def test_reads_pick_the_finest_tier_that_still_holds_the_window(config: Config) -> None:
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    tiers = config.watch.downsample
    assert history.tier_for(tiers, now - dt.timedelta(hours=6), now) == tiers[0]
    assert history.tier_for(tiers, now - dt.timedelta(days=7), now) == tiers[1]
    assert history.tier_for(tiers, now - dt.timedelta(days=400), now) == tiers[1]
    assert history.tier_for([], now, now) is None


def test_prune_keeps_each_tier_for_its_time(
    store: Store, config: Config, clock: FrozenClock
) -> None:
    old = clock.now()
    service.process_results(
        store,
        config,
        [result("web", "ok", old, 10.0), result("db", "ok", old, db_connections_used=0.5)],
        clock=clock,
    )
    clock.advance(dt.timedelta(days=2))
    service.prune(store, config, clock=clock)
    with store.session() as session:
        # Raw samples (1h) and the 5-minute tier (1d) are gone; the hourly tier (30d) stays.
        assert session.scalar(select(func.count()).select_from(Sample)) == 0
        assert set(session.scalars(select(CheckHistory.every))) == {3600}
        assert set(session.scalars(select(MetricHistory.every))) == {3600}
        up = history.uptime(session, config.watch.downsample, since=old, now=clock.now())
        assert up["web"].runs == 1
    # A tier removed from the config goes entirely at the next prune.
    shorter = config.model_copy(
        update={
            "watch": config.watch.model_copy(update={"downsample": config.watch.downsample[:1]})
        }
    )
    service.prune(store, shorter, clock=clock)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(CheckHistory)) == 0
    clock.advance(dt.timedelta(days=40))
    service.process_results(store, config, [result("web", "ok", clock.now())], clock=clock)
    service.prune(store, config, clock=clock)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(CheckHistory)) == 2
