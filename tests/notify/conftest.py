"""A paging desk: a store with the outbox attached, the fakes, and a clock moved by hand."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import Config, load_config, parse_config
from opsbook.context import AppContext
from opsbook.incidents import service as incidents
from opsbook.notify import service as notify
from opsbook.notify.models import Notification
from opsbook.notify.worker import deliver_due
from opsbook.store import Store, open_store
from tests.notify.fakes import FakePagerDuty, FakeSlack, FakeWebhookReceiver

ROUTING_KEY = "R" * 32
HOOK_SECRET = "whsec-0123456789abcdef"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.stop()


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    fake = FakePagerDuty()
    yield fake
    fake.stop()


@pytest.fixture
def receiver(clock: FrozenClock) -> Iterator[FakeWebhookReceiver]:
    fake = FakeWebhookReceiver(HOOK_SECRET, clock)
    yield fake
    fake.stop()


def channels_yaml(
    slack: FakeSlack,
    pagerduty: FakePagerDuty,
    receiver: FakeWebhookReceiver | None = None,
    *,
    timeout: str = "1s",
) -> str:
    """The channels to the fakes; `timeout` short where a test holds a fake's answer,
    long where a loaded machine must not turn a slow answer into a retry."""
    lines = [
        f"- {{name: pagerduty, kind: pagerduty, routing_key: {ROUTING_KEY},"
        f' events_url: "{pagerduty.events_url}", timeout: {timeout}}}',
        '- {name: slack-incidents, kind: slack, channel: "#incidents",'
        f' webhook_url: "{slack.webhook_url}", timeout: {timeout}}}',
    ]
    if receiver is not None:
        lines.append(
            f'- {{name: tickets, kind: webhook, url: "{receiver.url}/hook",'
            f" secret: {HOOK_SECRET}, timeout: {timeout}}}"
        )
    return "".join(f"    {line}\n" for line in lines)


def make_config(channels: str, extra: str = "") -> Config:
    text = (
        "project: shop\n"
        "notify:\n"
        "  incident_url: https://ops.example.com/incidents/{id}\n"
        "  outbox: {backoff: 10s, backoff_max: 5m, max_failures: 3, lease: 1m}\n"
        f"  channels:\n{channels}" + textwrap.indent(textwrap.dedent(extra), "  ")
    )
    return parse_config(text, file="opsbook.yaml", env={})


@dataclass
class Desk:
    store: Store
    config: Config
    clock: FrozenClock
    rng: random.Random = field(default_factory=lambda: random.Random(3))

    def open(self, severity: str = "P0", title: str = "Site down", **kw: Any) -> int:
        with self.store.session() as session:
            return incidents.open_incident(
                session, title=title, severity=severity, actor="alice", clock=self.clock, **kw
            ).id

    def deliver(self) -> int:
        """Send everything due now, as serve's worker would, and record the outcomes."""
        return asyncio.run(deliver_due(self.config, self.store, clock=self.clock, rng=self.rng))

    def later(self, **delta: float) -> None:
        self.clock.advance(dt.timedelta(**delta))

    def outbox(self) -> list[Notification]:
        with self.store.reading() as session:
            return list(session.scalars(select(Notification).order_by(Notification.id)))


@pytest.fixture
def desk_for(store_url: str, clock: FrozenClock) -> Iterator[Any]:
    """desk_for(config) -> a Desk on a fresh store (SQLite and PostgreSQL)."""
    stores: list[Store] = []

    def make(config: Config) -> Desk:
        store = open_store(store_url)
        stores.append(store)
        notify.attach(store, config)
        return Desk(store, config, clock)

    yield make
    for store in stores:
        store.close()


def sqlite_desk(tmp_path: Path, config: Config, clock: FrozenClock) -> Desk:
    store = open_store(f"sqlite:///{tmp_path / 'opsbook.db'}")
    notify.attach(store, config)
    return Desk(store, config, clock)


@pytest.fixture
def terminal(tmp_path: Path, store_url: str) -> Any:
    """terminal(desk, *args) -> what `opsbook ARGS` printed, over the desk's store and clock
    (the command must succeed)."""
    config = tmp_path / "cli.yaml"
    config.write_text(f"project: shop\nstore:\n  url: {store_url}\n")

    def run(desk: Desk, *args: str) -> str:
        result = CliRunner().invoke(
            app, ["--config", str(config), *args], obj=AppContext(clock=desk.clock)
        )
        assert result.exit_code == 0, result.output
        return result.output

    return run


def deliver_config(path: Path, clock: FrozenClock) -> None:
    """What serve's worker does, once, for the config file at `path`."""
    config = load_config(path)
    store = open_store(config.store.url.reveal())
    try:
        Desk(store, config, clock).deliver()
    finally:
        store.close()
