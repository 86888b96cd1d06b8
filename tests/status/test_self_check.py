"""opsbook's own `statuspage` check reads opsbook's own page, served on a real socket:
ok, then degraded and down during a scripted incident with a public update, ok again once
it is resolved."""

from __future__ import annotations

import asyncio
import datetime as dt

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.config.checks import StatuspageCheck
from opsbook.incidents import service as incidents
from opsbook.serving import BackgroundServer
from opsbook.status.cache import PublicCache
from opsbook.store import open_store
from opsbook.watch.probe import ProbeContext, new_session
from opsbook.watch.result import CheckResult
from opsbook.watch.runner import run_one
from opsbook.web.app import create_app
from tests.status.factories import record, status_config


def _read(url: str, config: Config, clock: FrozenClock) -> CheckResult:
    check = StatuspageCheck(name="self", kind="statuspage", provider="opsbook", url=url)

    async def run() -> CheckResult:
        async with new_session() as session:
            return await run_one(check, ProbeContext(session=session, config=config, clock=clock))

    return asyncio.run(run())


def test_the_statuspage_check_reads_opsbooks_own_page(store_url: str, clock: FrozenClock) -> None:
    config = status_config(store_url)
    store = open_store(store_url)
    cache = PublicCache(store, config, clock=clock, recheck=0)
    server = BackgroundServer(create_app(config, store, clock=clock, schedule=False, public=cache))
    server.start()
    try:
        url = f"{server.url}/api/v2/summary.json"
        record(store, config, clock, api_health_int="ok", api_version_int="ok", pg_main="ok")
        assert _read(url, config, clock).state == "ok"

        with store.session() as session:
            opened = incidents.open_incident(
                session, title="mail slow", severity="P2", actor="t", clock=clock,
                component="Email", message="Emails are delayed.", public=True,
            )  # fmt: skip
        seen = _read(url, config, clock)
        assert seen.state == "degraded", seen.summary
        assert "Degraded service: Email" in seen.summary

        clock.advance(dt.timedelta(minutes=1))
        record(store, config, clock, pg_main="down")
        assert _read(url, config, clock).state == "down"

        clock.advance(dt.timedelta(minutes=1))
        record(store, config, clock, pg_main="ok")
        with store.session() as session:
            incidents.resolve(
                session, incident_id=opened.id, actor="t", clock=clock,
                policy=config.incidents, message="Emails flow again.", force=True,
            )  # fmt: skip
        seen = _read(url, config, clock)
        assert seen.state == "ok", seen.summary
    finally:
        server.stop()
        store.close()
