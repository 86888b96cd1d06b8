"""`opsbook notify test|outbox|retry`: thin doors over the service, exit codes, audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.context import AppContext
from opsbook.store import open_store
from opsbook.store.audit import entries
from tests.notify.conftest import ROUTING_KEY, channels_yaml, deliver_config
from tests.notify.fakes import FakePagerDuty, FakeSlack, Reply

runner = CliRunner()


@pytest.fixture
def ops(
    tmp_path: Path, slack: FakeSlack, pagerduty: FakePagerDuty, clock: FrozenClock
) -> Iterator[Any]:
    config = tmp_path / "opsbook.yaml"
    config.write_text(
        f"project: shop\nstore:\n  url: sqlite:///{tmp_path / 'opsbook.db'}\n"
        "notify:\n  outbox: {max_failures: 1}\n  channels:\n" + channels_yaml(slack, pagerduty)
    )

    def run(*args: str) -> Any:
        return runner.invoke(app, ["--config", str(config), *args], obj=AppContext(clock=clock))

    yield run


def _deliver(tmp_path: Path, clock: FrozenClock) -> None:
    """What serve's worker does, once."""
    deliver_config(tmp_path / "opsbook.yaml", clock)


def _audit(tmp_path: Path) -> list[Any]:
    store = open_store(f"sqlite:///{tmp_path / 'opsbook.db'}")
    try:
        with store.reading() as session:
            return list(reversed(entries(session)))
    finally:
        store.close()


def test_notify_test_sends_a_marked_test_and_shows_the_answer(
    ops: Any, slack: FakeSlack, pagerduty: FakePagerDuty, tmp_path: Path
) -> None:
    result = ops("notify", "test", "slack-incidents")
    assert result.exit_code == 0, result.output
    assert "slack-incidents (slack): delivered" in result.output
    assert "answer: 200 ok" in result.output
    [message] = slack.messages
    assert message["text"].startswith("TEST message from opsbook (safe to ignore): [TEST]")

    result = ops("notify", "test", "pagerduty", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["channel"], shown["outcome"], shown["status"]) == ("pagerduty", "delivered", 202)
    trigger, resolve = pagerduty.events
    assert trigger["payload"]["severity"] == "info"
    assert trigger["payload"]["summary"].startswith("[TEST]")
    assert (resolve["event_action"], resolve["dedup_key"]) == ("resolve", trigger["dedup_key"])
    assert ROUTING_KEY not in result.output and slack.webhook_url not in result.output
    audit = [(e.action, e.target, e.outcome) for e in _audit(tmp_path)]
    assert audit == [
        ("notify.test", "slack-incidents", "started"),
        ("notify.test", "slack-incidents", "ok"),
        ("notify.test", "pagerduty", "started"),
        ("notify.test", "pagerduty", "ok"),
    ]


def test_notify_test_exits_1_when_the_far_side_refuses(
    ops: Any, slack: FakeSlack, tmp_path: Path
) -> None:
    slack.answer_next(Reply(404, "no_team"))
    result = ops("notify", "test", "slack-incidents")
    assert result.exit_code == 1
    assert "NOT delivered (failed)" in result.output and "answer: 404 no_team" in result.output
    assert _audit(tmp_path)[-1].outcome == "failed"


@pytest.mark.parametrize(
    "name", ["nope", "$(rm -rf /)", "[/x][bold]x", "a\x1b[31mb", "x; rm -rf /", "'\"", "n\x00ul"]
)
def test_notify_test_of_an_unknown_channel_exits_2(ops: Any, name: str) -> None:
    result = ops("notify", "test", name)
    assert result.exit_code == 2
    assert "no channel named" in result.output
    assert "channels: pagerduty, slack-incidents" in result.output
    assert "\x1b" not in result.output and "\x00" not in result.output


def test_outbox_dead_and_retry(
    ops: Any, slack: FakeSlack, tmp_path: Path, clock: FrozenClock
) -> None:
    assert ops("notify", "outbox").output.strip() == (
        "the outbox is empty: everything was delivered"
    )
    slack.answer_next(Reply(500, "<!channel> [/x] \x1b[31m"))
    assert ops("incident", "open", "--sev", "P0", "--title", "Down").exit_code == 0
    _deliver(tmp_path, clock)

    dead = ops("notify", "outbox", "--dead", "--json")
    assert dead.exit_code == 0
    [row] = json.loads(dead.stdout)
    assert (row["channel"], row["status"], row["kind"]) == ("slack-incidents", "dead", "trigger")
    assert row["last_error"].startswith("500 <!channel> [/x] \\x1b[31m")
    table = ops("notify", "outbox", "--dead")
    assert "\x1b" not in table.output and "\\x1b[31m" in table.output

    retried = ops("notify", "retry", str(row["id"]))
    assert retried.exit_code == 0, retried.output
    assert f"message #{row['id']} to slack-incidents will be sent again now" in retried.output
    assert ops("notify", "outbox", "--dead", "--json").stdout.strip() == "[]"
    assert _audit(tmp_path)[-1].action == "notify.retry"

    _deliver(tmp_path, clock)
    assert len(slack.messages) == 1
    again = ops("notify", "retry", str(row["id"]))
    assert again.exit_code == 2
    assert f"message #{row['id']} was delivered; it is not sent twice" in again.output


@pytest.mark.parametrize(
    "value", ["999", "abc", "0", "99999999999999999999", "$(id)", "1; rm -rf /"]
)
def test_retry_refuses_what_is_not_an_outbox_message(ops: Any, value: str) -> None:
    result = ops("notify", "retry", value)
    assert result.exit_code == 2
    assert (
        "no outbox message #999" in result.output or "is not an outbox message id" in result.output
    )
