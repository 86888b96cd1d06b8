"""What each channel puts on the wire, hostile titles included, and email over a real SMTP
server with STARTTLS, implicit TLS and a login."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from opsbook.clock import FrozenClock
from opsbook.incidents import service as incidents
from opsbook.notify.channels.webhook import signature
from tests.notify.conftest import Desk, channels_yaml, make_config, sqlite_desk
from tests.notify.fakes import (
    FakePagerDuty,
    FakeSlack,
    FakeWebhookReceiver,
    self_signed,
    smtp_server,
)

HOSTILE = (
    "<!channel> <http://evil.example|click me> & <@U123> ; rm -rf / $(reboot) `id`"
    " [/x] [bold]x \x1b[31mred\x1b[0m nul\x00 'q\" \u202egnp.exe"
)


def test_hostile_titles_reach_slack_escaped_as_slack_asks(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    desk.open("P0", HOSTILE, component="<!here>")
    desk.deliver()
    [message] = slack.messages
    raw = json.dumps(message)
    for live in (
        "<!channel>",
        "<http://evil.example|click me>",
        "<@U123>",
        "<!here>",
        "\x1b",
        "\x00",
    ):
        assert json.dumps(live)[1:-1] not in raw
    head = message["blocks"][0]["text"]["text"]
    assert "&lt;!channel&gt; &lt;http://evil.example|click me&gt; &amp; &lt;@U123&gt;" in head
    assert "$(reboot)" in head and "\\x1b[31mred" in head
    assert "nul\\x00" in head or "nul\ufffd" in head  # PostgreSQL keeps U+FFFD for a NUL
    assert "\\u202e" in head
    assert message["text"].startswith("New incident: [P0] Incident #1: &lt;!channel&gt;")


def test_a_huge_title_is_cut_to_pagerdutys_limit(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty)))
    desk.open("P0", "x" * 100_000)
    desk.deliver()
    [event] = pagerduty.events  # accepted: the fake refuses a summary over 1024
    assert len(event["payload"]["summary"]) == 1024 and event["payload"]["summary"].endswith("…")
    assert len(slack.messages[0]["blocks"][0]["text"]["text"]) < 3000


def test_webhooks_are_signed_and_carry_the_incident(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, receiver: FakeWebhookReceiver
) -> None:
    desk = desk_for(make_config(channels_yaml(slack, pagerduty, receiver)))
    desk.open("P2", HOSTILE, component="search")
    desk.deliver()
    [body] = receiver.accepted
    assert body["type"] == "incident.trigger" and body["incident"]["component"] == "search"
    assert body["incident"]["title"].startswith("<!channel>")  # JSON carries it as data
    [request] = receiver.requests
    header = request["headers"]["opsbook-signature"]
    t = int(header.split(",")[0].removeprefix("t="))
    assert t == int(desk.clock.now().timestamp())
    assert header == signature("whsec-0123456789abcdef", t, request["raw"])
    assert request["headers"]["idempotency-key"] == desk.outbox()[0].key


def test_a_webhook_with_a_wrong_secret_is_refused_and_not_retried(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, receiver: FakeWebhookReceiver
) -> None:
    channels = channels_yaml(slack, pagerduty, receiver).replace(
        "whsec-0123456789abcdef", "whsec-not-the-right-one"
    )
    desk = desk_for(make_config(channels))
    desk.open("P2")
    desk.deliver()
    [row] = desk.outbox()
    assert (row.status, row.last_error) == ("dead", "401 bad signature")
    assert receiver.accepted == []


# --- email ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def _email_channel(port: int, **fields: str) -> str:
    extra = "".join(f", {k}: {v}" for k, v in fields.items())
    return (
        f"    - {{name: mail, kind: email, smtp_host: 127.0.0.1, smtp_port: {port},"
        f" from: opsbook@example.com, to: [tickets@example.com], timeout: 5s{extra}}}\n"
    )


@pytest.fixture
def mail_desk(tmp_path: Path, clock: FrozenClock) -> Iterator[Any]:
    desks: list[Desk] = []

    def make(channel: str) -> Desk:
        desk = sqlite_desk(tmp_path, make_config(channel), clock)
        desks.append(desk)
        return desk

    yield make
    for desk in desks:
        desk.store.close()


def test_email_threads_an_incident_and_refuses_header_injection(
    mail_desk: Any, cert: tuple[Path, Path]
) -> None:
    with smtp_server(mode="starttls", cert=cert, login=("ops", "s3cret-pw")) as smtp:
        desk = mail_desk(
            _email_channel(
                smtp.port, security="starttls", username="ops", password="s3cret-pw",
                ca_file=str(cert[0]),
            )
        )  # fmt: skip
        title = "Search slow\r\nBcc: victim@example.com\r\n\r\n<script>alert(1)</script>"
        incident_id = desk.open("P2", title)
        with desk.store.session() as session:
            incidents.acknowledge(session, incident_id=incident_id, actor="a", clock=desk.clock)
        desk.deliver()
    first, second = smtp.messages
    assert smtp.mailbox.envelopes == [("opsbook@example.com", ["tickets@example.com"])] * 2
    assert first["Bcc"] is None and "\n" not in first["Subject"] and "\r" not in first["Subject"]
    assert (
        first["Subject"]
        == f"[shop] Incident #{incident_id}: Search slow\\r\\nBcc: victim@example.com"
        "\\r\\n\\r\\n<script>alert(1)</script>"
    )
    assert first["Subject"] == second["Subject"]
    root = f"<shop-incident-{incident_id}@example.com>"
    assert first["In-Reply-To"] == second["In-Reply-To"] == first["References"] == root
    keys = [row.key for row in desk.outbox()]
    assert [first["Message-ID"], second["Message-ID"]] == [f"<{k}@example.com>" for k in keys]
    text = _part(first, "plain")
    html = _part(first, "html")
    assert "Severity: P2 Medium" in text and "Due: " in text
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert _part(second, "plain").startswith("Acknowledged: [P2]")


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None
    return str(part.get_content())


def test_email_over_implicit_tls(mail_desk: Any, cert: tuple[Path, Path]) -> None:
    with smtp_server(mode="tls", cert=cert) as smtp:
        desk = mail_desk(_email_channel(smtp.port, security="tls", ca_file=str(cert[0])))
        desk.open("P2")
        desk.deliver()
    assert len(smtp.messages) == 1
    assert desk.outbox()[0].status == "delivered"


def test_email_with_a_wrong_password_is_dead_at_once(
    mail_desk: Any, cert: tuple[Path, Path]
) -> None:
    with smtp_server(mode="starttls", cert=cert, login=("ops", "right")) as smtp:
        desk = mail_desk(
            _email_channel(
                smtp.port, security="starttls", username="ops", password="wrong-pw",
                ca_file=str(cert[0]),
            )
        )  # fmt: skip
        desk.open("P2")
        desk.deliver()
    [row] = desk.outbox()
    assert row.status == "dead" and row.last_error.startswith(f"127.0.0.1:{smtp.port} answered 535")
    assert "wrong-pw" not in row.last_error
    assert smtp.messages == []


def test_email_to_an_untrusted_certificate_is_refused(
    mail_desk: Any, cert: tuple[Path, Path]
) -> None:
    with smtp_server(mode="starttls", cert=cert) as smtp:
        desk = mail_desk(_email_channel(smtp.port, security="starttls"))
        desk.open("P2")
        desk.deliver()
    [row] = desk.outbox()
    assert (row.status, "CERTIFICATE_VERIFY_FAILED" in row.last_error) == ("dead", True), (
        row.last_error
    )
    assert smtp.messages == []


def test_a_key_that_is_not_atext_still_makes_one_whole_message_id() -> None:
    """Escalation's keys hold ':' and spaces; a Message-ID must not (RFC 5322 msg-id)."""
    from email import message_from_string, policy

    from opsbook.notify.channels.email import id_left

    keys = [
        "page:1:5:0:2:DevOps Lead:email-escalation",
        "page:1:5:0:2:DevOps-Lead:email-escalation",
        "renotify:1:2026-01-05T12:09:00+00:00:1:Alice:email",
        "x" * 255,
        HOSTILE,
    ]
    left = [id_left(k) for k in keys]
    assert len(set(left)) == len(keys) and left == [id_left(k) for k in keys]
    for part in left:
        parsed = message_from_string(f"Message-ID: <{part}@example.com>\n\n", policy=policy.default)
        assert parsed["Message-ID"] == f"<{part}@example.com>"
    assert id_left("4f1c0e9a") == "4f1c0e9a"  # an outbox key stays as it is
