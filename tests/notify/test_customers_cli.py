"""`opsbook incident notify-customers`, the editable templates and `config check` on them,
and the customer round inside serve's lifespan."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import load_config
from opsbook.context import AppContext
from opsbook.notify.customers_send import CustomersTask
from opsbook.notify.models import Notification
from opsbook.store import open_store
from tests.conftest import wait_for
from tests.notify.conftest import deliver_config
from tests.notify.fakes import FakeSmtp, smtp_server

runner = CliRunner()
LOOPS = "{% for a in range(3000) %}{% for b in range(3000) %}{% endfor %}{% endfor %}\n"
HOSTILE = "<b>x</b> [/x] $(id) ; rm -rf / \x1b[31m 'quoted' \"both\""


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def site(tmp_path: Path, smtp: FakeSmtp, clock: FrozenClock) -> Any:
    """A config file with customer email on, and a way to run opsbook on it."""
    config = tmp_path / "opsbook.yaml"
    config.write_text(
        f"project: shop\nstore:\n  url: sqlite:///{tmp_path / 'opsbook.db'}\n"
        "status: {name: Shop}\n"
        "notify:\n  channels:\n"
        f"    - {{name: mail, kind: email, smtp_host: 127.0.0.1, smtp_port: {smtp.port},"
        " security: none, from: status@shop.example.com, to: [x@shop.example.com]}\n"
        "  customers:\n    channel: mail\n    templates: mail-templates\n    check_every: 100ms\n"
        "    recipients: [ada@org.example.com, bob@org.example.com]\n"
    )

    def run(*args: str) -> Any:
        return runner.invoke(app, ["--config", str(config), *args], obj=AppContext(clock=clock))

    return run


def test_dry_run_shows_who_gets_what_then_it_is_sent_once(
    site: Any, tmp_path: Path, smtp: FakeSmtp, clock: FrozenClock
) -> None:
    assert site("incident", "open", "--sev", "P0", "--title", "db7 OOM").exit_code == 0
    refused = site("incident", "notify-customers", "1", "--dry-run")
    assert refused.exit_code == 2 and "has no public update" in refused.output
    update = ["incident", "update", "1", "--message", HOSTILE, "--public"]
    assert site(*update).exit_code == 0

    dry = site("incident", "notify-customers", "1", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert plan["recipients"] == ["ada@org.example.com", "bob@org.example.com"]
    assert plan["queued"] == 0 and plan["subject"] == "[Shop] Major outage"
    assert "&lt;b&gt;x&lt;/b&gt;" in plan["html"] and "db7" not in plan["text"]
    shown = site("incident", "notify-customers", "1", "--dry-run")
    assert "would be sent 2 recipients" in shown.output and "[/x] $(id)" in shown.output
    assert "\x1b" not in shown.output

    sent = site("incident", "notify-customers", "1")
    assert sent.exit_code == 0 and "queued for 2 recipients" in sent.output
    again = site("incident", "notify-customers", "1")
    assert "every recipient already had this email" in again.output
    deliver_config(tmp_path / "opsbook.yaml", clock)
    assert sorted(m["To"] for m in smtp.messages) == ["ada@org.example.com", "bob@org.example.com"]
    audit = site("audit", "list", "--json")
    assert audit.exit_code == 0 and "notify.customers" in audit.stdout


@pytest.mark.parametrize("value", ["0", "-1", "abc", "; rm -rf /", "9" * 40])
def test_a_bad_incident_number_exits_2(site: Any, value: str) -> None:
    result = site("incident", "notify-customers", value, "--dry-run")
    assert result.exit_code == 2


def test_an_override_template_is_used(site: Any, tmp_path: Path) -> None:
    folder = tmp_path / "mail-templates"
    folder.mkdir()
    (folder / "customer_update_subject.txt").write_text("Heads up from {{ service }}\n")
    site("incident", "open", "--sev", "P0", "--title", "t")
    site("incident", "update", "1", "--message", "Looking into it", "--public")
    plan = json.loads(site("incident", "notify-customers", "1", "--dry-run", "--json").stdout)
    assert plan["subject"] == "Heads up from Shop"
    assert "Looking into it" in plan["text"]  # the other parts are the packaged ones


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("one\n{{ update.body | nosuch }}\nthree\n", "customer_update.txt:2: No filter named"),
        ("one\n{% if update %}\nthree\n", "customer_update.txt:2: Unexpected end of template"),
        ("line one\n\n{{ nothing_here }}\n", "customer_update.txt:3: 'nothing_here' is undefined"),
        ("{{ ''.__class__.__mro__ }}\n", "customer_update.txt:1: "),
        # An edited template is bounded like a runbook's: no value past the size limit,
        # no loop or macro (their nesting makes the time unbounded), no include of itself.
        ("{{ 'x' * 10**8 }}\n", "customer_update.txt:1: repeating a value would make"),
        (LOOPS, "customer_update.txt:1: a {% for %} statement is not allowed"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}\n", "{% macro %} statement is not"),
        ('{% include "customer_update.txt" %}\n', "a {% include %} statement is not allowed"),
    ],
)
def test_a_broken_template_is_a_config_check_error(
    site: Any, tmp_path: Path, content: str, says: str
) -> None:
    folder = tmp_path / "mail-templates"
    folder.mkdir()
    (folder / "customer_update.txt").write_text(content)
    result = site("config", "check")
    assert result.exit_code == 2
    assert str(folder / "customer_update.txt") in result.output.replace("\n", "")
    assert says in result.output.replace("\n", "").replace(str(folder) + "/", "")


def test_the_serve_task_queues_what_is_due(tmp_path: Path, site: Any, clock: FrozenClock) -> None:
    site("incident", "open", "--sev", "P0", "--title", "t")
    site("incident", "update", "1", "--message", "Looking into it", "--public")
    config = load_config(tmp_path / "opsbook.yaml")
    store = open_store(config.store.url.reveal())
    try:
        # The task reads the injected clock, never the wall's: 16 minutes pass at once.
        clock.advance(dt.timedelta(minutes=16))

        async def serve_briefly() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(CustomersTask(config, store, clock=clock).run(stop))
            await asyncio.to_thread(wait_for, lambda: len(_rows(store)) == 2)
            stop.set()
            await task

        asyncio.run(serve_briefly())
    finally:
        store.close()


def _rows(store: Any) -> list[Notification]:
    with store.reading() as session:
        return list(session.query(Notification))
