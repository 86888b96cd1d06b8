"""`status.export_dir`: serve re-exports the static page when the public view changes, at
most once per `export_every` by the injected clock; a failing export is logged once and
serve goes on."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.config.loader import parse_config
from opsbook.incidents import service as incidents
from opsbook.serving import BackgroundServer
from opsbook.status.autoexport import ExportTask
from opsbook.status.cache import PublicCache
from opsbook.store import Store, open_store
from opsbook.web.app import create_app
from tests.conftest import wait_for

MESSAGE = "We are investigating failed logins."


def export_config(store_url: str, site: Path, **status: Any) -> Config:
    data = {
        "store": {"url": store_url},
        "status": {"name": "Example Status", "export_dir": str(site), **status},
    }
    return parse_config(yaml.safe_dump(data), file="opsbook.yaml", env={})


def _index(site: Path) -> str:
    try:
        return (site / "index.html").read_text()
    except OSError:
        return ""


def _open(store: Store, clock: FrozenClock, message: str = MESSAGE) -> None:
    with store.session() as session:
        incidents.open_incident(
            session, title="internal title", severity="P0", actor="t", clock=clock,
            message=message, public=True,
        )  # fmt: skip


def test_serve_re_exports_when_a_public_incident_opens(
    store_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    config = export_config(store_url, site, export_every="10s")
    store = open_store(store_url)
    cache = PublicCache(store, config, clock=clock, recheck=0)
    server = BackgroundServer(create_app(config, store, clock=clock, public=cache)).start()
    try:
        wait_for(lambda: "All Systems Operational" in _index(site))
        _open(store, clock)
        clock.advance(dt.timedelta(seconds=10))
        wait_for(lambda: MESSAGE in _index(site))
        assert "Major System Outage" in _index(site)
        assert "internal title" not in _index(site)
    finally:
        server.stop()
        store.close()


def _task(store: Store, config: Config, clock: FrozenClock, site: Path) -> ExportTask:
    cache = PublicCache(store, config, clock=clock, recheck=0)
    return ExportTask(config, store, cache, clock=clock, target=site)


def test_at_most_once_per_export_every_and_only_on_change(
    store: Store, store_url: str, clock: FrozenClock, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    config = export_config(store_url, site, export_every="30s")
    task = _task(store, config, clock, site)
    assert asyncio.run(task.round()) is True
    _open(store, clock)
    clock.advance(dt.timedelta(seconds=29))
    assert asyncio.run(task.round()) is False  # changed, but too soon
    assert MESSAGE not in _index(site)
    clock.advance(dt.timedelta(seconds=1))
    assert asyncio.run(task.round()) is True
    assert MESSAGE in _index(site)
    clock.advance(dt.timedelta(seconds=30))
    assert asyncio.run(task.round()) is False  # nothing changed
    assert task.exports == 2


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_failing_export_is_logged_once_and_tried_again(
    store: Store, store_url: str, clock: FrozenClock, tmp_path: Path, caplog: Any
) -> None:
    site = tmp_path / "site; rm -rf $(x) [bold]'\""
    site.mkdir()
    (site / "notes.txt").write_text("someone's files")  # not an export: refused
    config = export_config(store_url, site, export_every="10s")
    task = _task(store, config, clock, site)
    with caplog.at_level(logging.WARNING, logger="opsbook.status"):
        for _ in range(3):
            assert asyncio.run(task.round()) is False
            clock.advance(dt.timedelta(seconds=10))
    [line] = [r.getMessage() for r in caplog.records if "status export" in r.getMessage()]
    assert "holds files that are not a status export" in line and str(site) in line
    (site / "notes.txt").unlink()
    assert asyncio.run(task.round()) is True
    assert "All Systems Operational" in _index(site)
