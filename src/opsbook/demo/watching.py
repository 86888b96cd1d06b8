"""`opsbook serve` inside the demo: every check of the demo's config on a short interval,
alerts routed to incidents, P0 and P1 paging the demo's fake PagerDuty and Slack, and the
public status page, until the demo stops. What the watcher decides is told as it happens."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from opsbook.clock import SYSTEM_CLOCK
from opsbook.config import Config
from opsbook.config.notify import Channel, PagerDutyChannel, SlackChannel
from opsbook.config.secrets import Secret
from opsbook.console import VisibleFormatter, console, literal
from opsbook.demo.stage import Stage
from opsbook.postgres.cluster import free_port
from opsbook.sandbox.fakes import PagingFakes
from opsbook.serving import BackgroundServer
from opsbook.store import Store, open_store
from opsbook.watch import service as watch
from opsbook.web.app import create_app as web_app

INTERVAL = dt.timedelta(seconds=2)  # a demo's pace: a fault is seen within seconds


@dataclass(frozen=True)
class Watching:
    """The running watcher: its store, the config it runs (paging to `fakes`), its URL."""

    store: Store
    config: Config
    fakes: PagingFakes
    url: str


def start_watching(stage: Stage) -> Watching:
    """Serve the demo's config with the scheduler on; returns once every check has run."""
    cleanup = stage.cleanup
    fakes = PagingFakes(lambda line: console.print(literal(f"  {line}"), style="bold magenta"))
    cleanup.callback(fakes.stop)
    console.print(f"fake PagerDuty    {fakes.events_url}\nfake Slack        {fakes.webhook_url}")
    config = paging_to(_every(stage.config, INTERVAL), fakes)
    store = open_store(config.store.url.reveal(), base_dir=config.base_dir)
    cleanup.callback(store.close)
    cleanup.callback(_narrate())
    web = BackgroundServer(web_app(config, store, clock=SYSTEM_CLOCK), port=free_port()).start()
    cleanup.callback(web.stop)
    console.print(
        f"opsbook serve     {web.url}: {len(config.checks)} checks every "
        f"{INTERVAL.total_seconds():g}s"
    )
    console.print(f"status page       {web.url}/status")
    wait_until(lambda: len(watch.check_states(store)) == len(config.checks), 30)
    for state in watch.check_states(store):
        console.print(literal(f"  {state.name:15} {state.state:9} {state.summary}"))
    return Watching(store, config, fakes, web.url)


def _every(config: Config, interval: dt.timedelta) -> Config:
    checks = [
        c.model_copy(update={"interval": interval, "timeout": interval}) for c in config.checks
    ]
    return config.model_copy(update={"checks": checks})


def paging_to(config: Config, fakes: PagingFakes) -> Config:
    """P0 and P1 page the demo's fake PagerDuty and fake Slack #incidents; nothing else is
    sent (the email channels have no server here)."""
    channels: list[Channel] = []
    for channel in config.notify.channels:
        if isinstance(channel, PagerDutyChannel):
            key = Secret("demo" * 8)  # the Events API wants 32 characters
            channels.append(
                channel.model_copy(update={"events_url": fakes.events_url, "routing_key": key})
            )
        elif isinstance(channel, SlackChannel) and channel.name == "slack-incidents":
            channels.append(channel.model_copy(update={"webhook_url": Secret(fakes.webhook_url)}))
    names = [c.name for c in channels]
    routing: dict[str, list[str]] = {"P0": names, "P1": names, "P2": [], "P3": []}
    notify = config.notify.model_copy(
        update={"channels": channels, "routing": routing, "components": {}}
    )
    return config.model_copy(update={"notify": notify})


class _Narrator(logging.Handler):
    """The watcher's transitions (FIRING ... -> opened incident #3, RESOLVED ...), one
    line each on the demo's output, as `opsbook serve` writes them to its log."""

    def emit(self, record: logging.LogRecord) -> None:
        console.print(literal(f"  {self.format(record)}"), style="bold")


def _narrate() -> Callable[[], None]:
    """Start telling; returns what stops it."""
    logger = logging.getLogger("opsbook.watch")
    handler, level = _Narrator(logging.INFO), logger.level
    handler.setFormatter(VisibleFormatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def stop() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)

    return stop


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the demo waited {timeout:g}s for something that did not happen")
        time.sleep(0.2)
