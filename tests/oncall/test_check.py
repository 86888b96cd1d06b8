"""`opsbook oncall check|confirm|checks`: the seed's "test alert delivery" through the real
CLI, the outbox and the fake PagerDuty and Slack, on SQLite and PostgreSQL stores; the
person's confirmation kept with their name; bad input refused with nothing changed."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from opsbook.clock import FrozenClock
from opsbook.notify.models import Notification
from opsbook.store import open_store
from tests.notify.conftest import channels_yaml
from tests.notify.fakes import FakePagerDuty, FakeSlack
from tests.oncall.test_cli import Oncall as Terminal

HOSTILE = "Eve [/x] [bold]b[/bold] \x1b[2J ; rm -rf / $(touch pwned) 'q\""
# The same name as a YAML double-quoted scalar: a person of the rota may carry it.
HOSTILE_YAML = '"Eve [/x] [bold]b[/bold] \\e[2J ; rm -rf / $(touch pwned) \'q\\""'
MONDAY_NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def _config(store_url: str, slack: FakeSlack, pagerduty: FakePagerDuty, users: str) -> str:
    return (
        "project: shop\n"
        f"store: {{url: '{store_url}'}}\n"
        "notify:\n"
        f"  channels:\n{channels_yaml(slack, pagerduty, timeout='10s')}"
        "  routing: {P0: [pagerduty, slack-incidents]}\n"
        "oncall:\n"
        "  people:\n"
        "    - {name: alice, contacts: {slack_user_id: U024BE7LH}}\n"
        "    - {name: bob}\n"
        f"    - {{name: {HOSTILE_YAML}}}\n"
        "  schedules:\n"
        "    - name: primary\n"
        "      timezone: UTC\n"
        f"      layers: [{{users: [{users}], rotation: weekly, handoff: 'Monday 09:00',"
        " start: '2026-03-02'}]\n"
        "    - name: office\n"
        "      timezone: UTC\n"
        "      layers: [{users: [bob], rotation: daily, restrict: ['weekdays 09:00-10:00']}]\n"
    )


@pytest.fixture
def terminal_for(
    tmp_path: Path,
    store_url: str,
    slack: FakeSlack,
    pagerduty: FakePagerDuty,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[str], Terminal]:
    """A terminal on a config whose primary rota is `users`."""

    def make(users: str) -> Terminal:
        monkeypatch.setenv("COLUMNS", "400")  # a wide terminal: table cells shown whole
        path = tmp_path / "opsbook.yaml"
        path.write_text(_config(store_url, slack, pagerduty, users))
        return Terminal(path, FrozenClock(MONDAY_NOON))

    return make


@pytest.fixture
def terminal(terminal_for: Callable[[str], Terminal]) -> Terminal:
    return terminal_for("alice, bob")


def _outbox(store_url: str) -> list[Notification]:
    store = open_store(store_url)
    try:
        with store.reading() as session:
            return list(session.query(Notification).order_by(Notification.id))
    finally:
        store.close()


def test_a_test_page_reaches_the_person_on_call_and_their_confirmation_is_kept(
    terminal: Terminal, slack: FakeSlack, pagerduty: FakePagerDuty, store_url: str
) -> None:
    sent = terminal.json("check", "--schedule", "primary")
    assert (sent["person"], sent["schedule"], sent["confirmed_by"]) == ("alice", "primary", None)
    assert [(d["channel"], d["status"]) for d in sent["deliveries"]] == [
        ("pagerduty", "delivered"),
        ("slack-incidents", "delivered"),
    ]
    # PagerDuty: a TEST trigger at severity info, resolved at once; Slack mentions alice.
    assert [a for a, _ in pagerduty.actions()] == ["trigger", "resolve"]
    assert pagerduty.events[0]["payload"]["severity"] == "info"
    assert "[TEST]" in pagerduty.events[0]["payload"]["summary"]
    assert "<@U024BE7LH>" in json.dumps(slack.messages[0])
    assert {n.kind for n in _outbox(store_url)} == {"test"}  # through the outbox

    confirmed = terminal.json("confirm", str(sent["id"]), "--by", "alice")
    assert confirmed["confirmed_by"] == "alice"
    assert confirmed["confirmed_at"] == MONDAY_NOON.isoformat()
    again = terminal.run("confirm", str(sent["id"]), "--by", "alice", code=2)
    assert "already confirmed by alice" in again.output
    [listed] = terminal.json("checks")
    assert listed["confirmed_by"] == "alice"


def test_only_the_person_paged_can_confirm_it_reached_them(terminal: Terminal) -> None:
    sent = terminal.json("check", "--schedule", "primary")
    refused = terminal.run("confirm", str(sent["id"]), "--by", "bob", code=2)
    said = " ".join(refused.output.split())
    assert "paged alice, not bob: only they can confirm it reached them (--by 'alice')" in said
    [listed] = terminal.json("checks")
    assert listed["confirmed_by"] is None


def test_a_person_with_a_hostile_name_confirms_and_is_shown_as_text(
    terminal_for: Callable[[str], Terminal],
) -> None:
    terminal = terminal_for(HOSTILE_YAML)
    sent = terminal.json("check", "--schedule", "primary")
    assert sent["person"] == HOSTILE.strip()
    confirmed = terminal.json("confirm", str(sent["id"]), "--by", HOSTILE)
    assert confirmed["confirmed_by"] == HOSTILE.strip()
    shown = terminal.run("checks").output
    assert "Eve [/x] [bold]b[/bold]" in shown and r"\x1b[2J" in shown


@pytest.mark.parametrize(
    "name", ["mallory", "Alice", "alice; rm -rf /", "$(touch pwned) [/x] \x1b[2J \x00", "9" * 190]
)
def test_a_confirmation_by_someone_the_rota_does_not_know_is_refused(
    terminal: Terminal, name: str
) -> None:
    sent = terminal.json("check", "--schedule", "primary")
    refused = terminal.run("confirm", str(sent["id"]), "--by", name, code=2)
    said = " ".join(refused.output.split())  # the error line may wrap
    assert repr(name)[:30] in said  # long values are cut short
    assert "'alice', 'bob', 'Eve [/x] [bold]b[/bold] \\x1b[2J" in said
    [listed] = terminal.json("checks")
    assert (listed["confirmed_by"], listed["confirmed_at"]) == (None, None)


def test_nobody_on_call_queues_nothing(terminal: Terminal, store_url: str) -> None:
    terminal.clock.set(dt.datetime(2026, 3, 7, 12, 0, tzinfo=dt.UTC))  # Saturday: office empty
    refused = terminal.run("check", "--schedule", "office", code=2)
    assert "nobody is on call in office" in refused.output
    assert _outbox(store_url) == []
    assert terminal.json("checks") == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("confirm", "99", "--by", "alice"), "no on-call check #99"),
        (("confirm", "1", "--by", "   "), "--by"),
        (("confirm", "1", "--by", "x" * 201), "--by"),
        (("check", "--schedule", "nope; rm -rf /"), "nope; rm -rf /"),
    ],
)
def test_bad_input_is_refused_with_nothing_changed(
    terminal: Terminal, store_url: str, args: tuple[str, ...], says: str
) -> None:
    refused = terminal.run(*args, code=2)
    assert says in refused.output
    assert _outbox(store_url) == []


def test_a_page_no_channel_delivers_exits_one(
    tmp_path: Path, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    from tests.notify.fakes import Reply

    path = tmp_path / "opsbook.yaml"
    path.write_text(_config(f"sqlite:///{tmp_path / 'o.db'}", slack, pagerduty, "alice"))
    pagerduty.answer_next(Reply(400, '{"status": "invalid event"}'))
    slack.answer_next(Reply(404, "no_service"))
    sent = Terminal(path, FrozenClock(MONDAY_NOON)).json("check", code=1)
    assert {d["status"] for d in sent["deliveries"]} == {"failed"}
