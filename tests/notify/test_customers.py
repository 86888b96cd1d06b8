"""Customer email from open to all-clear, counted at a real SMTP server (aiosmtpd), with the
clock moved by hand: nothing before 15 minutes, only public words, a newer update at most
every 30 minutes, an all-clear once resolved, never one email twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg
import pytest

from opsbook.clock import FrozenClock
from opsbook.config import Config, parse_config
from opsbook.incidents import service as incidents
from opsbook.notify import service as notify
from opsbook.notify.customers_send import (
    CustomersError,
    RecipientsError,
    notify_customers,
    send_due,
)
from opsbook.store import open_store
from tests.notify.conftest import Desk
from tests.notify.fakes import FakeSmtp, smtp_server

ADMINS = ["ada@org1.example.com", "bob@org2.example.com"]
SECRET_TITLE = "db-primary-7 OOM on check pg-replica-lag"


def customers_config(port: int, customers: str = "", top: str = "") -> Config:
    recipients = customers or f"recipients: [{', '.join(ADMINS)}]"
    text = (
        "project: shop\n"
        f"{top}"
        "status: {name: Shop, url: https://status.shop.example.com}\n"
        "notify:\n"
        "  outbox: {backoff: 10s, max_failures: 3, lease: 1m}\n"
        "  channels:\n"
        f"    - {{name: customer-mail, kind: email, smtp_host: 127.0.0.1, smtp_port: {port},"
        " security: none, from: status@shop.example.com, to: [unused@shop.example.com],"
        " timeout: 5s}\n"
        "  customers:\n"
        "    channel: customer-mail\n"
        f"    {recipients}\n"
    )
    return parse_config(text, file="opsbook.yaml", env={})


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def desk_on(store_url: str, clock: FrozenClock) -> Iterator[Any]:
    made: list[Desk] = []

    def make(config: Config) -> Desk:
        store = open_store(store_url)
        notify.attach(store, config)
        made.append(Desk(store, config, clock))
        return made[-1]

    yield make
    for desk in made:
        desk.store.close()


def due_now(desk: Desk) -> int:
    """What one round of serve's customer task queues, then the outbox delivers."""
    queued = send_due(desk.store, desk.config, clock=desk.clock)
    desk.deliver()
    return queued


def public_update(desk: Desk, incident_id: int, text: str) -> None:
    with desk.store.session() as session:
        incidents.update(
            session, incident_id=incident_id, actor="alice", clock=desk.clock, message=text,
            public=True,
        )  # fmt: skip


def open_p0(desk: Desk) -> int:
    number = desk.open("P0", SECRET_TITLE)
    with desk.store.session() as session:
        incidents.note(
            session, incident_id=number, actor="alice", clock=desk.clock, text="private: ssh db7"
        )
    return number


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(mail: EmailMessage) -> str:
    part = mail.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_from_open_to_all_clear(desk_on: Any, smtp: FakeSmtp) -> None:
    desk = desk_on(customers_config(smtp.port))
    number = open_p0(desk)
    public_update(desk, number, "Sign-in is failing for some users; we are investigating.")
    desk.later(minutes=14, seconds=59)
    assert due_now(desk) == 0 and smtp.messages == []

    desk.later(seconds=1)  # 15 minutes open
    assert due_now(desk) == 2
    assert sorted(m["To"] for m in smtp.messages) == ADMINS
    for mail in smtp.messages:
        whole = mail.as_string()
        assert "Sign-in is failing for some users" in text_of(mail)
        assert "Sign-in is failing for some users" in html_of(mail)
        assert mail["Subject"] == "[Shop] Major outage"
        # Only public words: never the title, a note, a check's name.
        assert "db-primary-7" not in whole and "ssh db7" not in whole
        assert "pg-replica-lag" not in whole
    roots = {m["In-Reply-To"] for m in smtp.messages}
    assert roots == {"<shop-incident-1-customers@shop.example.com>"}
    assert len({m["Message-ID"] for m in smtp.messages}) == 2

    desk.later(minutes=10)
    public_update(desk, number, "Fix deployed; watching it.")
    desk.later(minutes=10)  # 20 minutes after the first email: not yet
    assert due_now(desk) == 0
    desk.later(minutes=10)
    assert due_now(desk) == 2
    assert all("Fix deployed" in text_of(m) for m in smtp.messages[2:])
    desk.later(minutes=45)  # nothing new said: nothing sent
    assert due_now(desk) == 0

    with desk.store.session() as session:
        incidents.resolve(
            session, incident_id=number, actor="alice", clock=desk.clock,
            policy=desk.config.incidents, message="Sign-in works again for everyone.",
            force=True,
        )  # fmt: skip
    assert due_now(desk) == 2
    clears = smtp.messages[4:]
    assert sorted(m["To"] for m in clears) == ADMINS
    assert all(m["Subject"] == "[Shop] All clear: Major outage" for m in clears)
    assert all("Sign-in works again for everyone." in text_of(m) for m in clears)
    assert {m["In-Reply-To"] for m in clears} == roots
    assert due_now(desk) == 0 and len(smtp.messages) == 6
    with desk.store.reading() as session:
        kinds = [e.kind for e in incidents.timeline(session, incident_id=number)]
    assert kinds.count("customers.update") == 2 and kinds.count("customers.all_clear") == 1


def test_no_public_update_no_email(desk_on: Any, smtp: FakeSmtp) -> None:
    desk = desk_on(customers_config(smtp.port))
    number = open_p0(desk)
    desk.later(hours=2)
    assert due_now(desk) == 0 and smtp.messages == []
    with pytest.raises(CustomersError, match="has no public update"):
        notify_customers(
            desk.store, desk.config, incident_id=number, dry_run=True, actor="t", clock=desk.clock
        )


def test_a_p1_or_a_resolved_incident_never_emailed_gets_nothing(
    desk_on: Any, smtp: FakeSmtp
) -> None:
    desk = desk_on(customers_config(smtp.port))
    p1 = desk.open("P1", "slow")
    public_update(desk, p1, "Things are slow.")
    p0 = desk.open("P0", "down")
    public_update(desk, p0, "Down briefly.")
    with desk.store.session() as session:
        incidents.resolve(
            session, incident_id=p0, actor="a", clock=desk.clock, policy=desk.config.incidents,
            force=True,
        )  # fmt: skip
    desk.later(hours=1)
    assert due_now(desk) == 0 and smtp.messages == []


def test_restarts_and_two_deciders_never_send_twice(
    desk_on: Any, smtp: FakeSmtp, store_url: str
) -> None:
    config = customers_config(smtp.port)
    first = desk_on(config)
    number = open_p0(first)
    public_update(first, number, "Investigating.")
    first.later(minutes=16)
    # Two serve processes (two engines on one store) decide at the same moment.
    second = desk_on(config)
    results: list[int] = []
    rounds = [
        threading.Thread(
            target=lambda d=d: results.append(send_due(d.store, config, clock=d.clock))
        )
        for d in (first, second, first)
    ]
    for thread in rounds:
        thread.start()
    for thread in rounds:
        thread.join()
    assert sorted(results) == [0, 0, 2]
    # A restart: a fresh engine decides again, and the CLI is asked to send it now.
    third = desk_on(config)
    assert send_due(third.store, config, clock=third.clock) == 0
    again = notify_customers(
        third.store, config, incident_id=number, dry_run=False, actor="t", clock=third.clock
    )
    assert again.queued == 0 and again.already == ADMINS
    third.deliver()
    first.deliver()
    assert sorted(m["To"] for m in smtp.messages) == ADMINS


# --- recipients from the target database ------------------------------------------------


def _query_config(port: int, url: str, query: str, cap: int = 5000) -> Config:
    customers = f'recipients_query: "{query}"\n    max_recipients: {cap}\n    query_timeout: 500ms'
    return customers_config(port, customers, top=f"database: {{url: '{url}'}}\n")


def test_the_org_admins_from_the_sandbox_database(
    tmp_path: Path, sandbox_db: str, smtp: FakeSmtp, clock: FrozenClock
) -> None:
    query = "select email from users where role = 'admin' order by email"
    config = _query_config(smtp.port, sandbox_db, query)
    desk = _sqlite_desk(tmp_path, config, clock)
    number = open_p0(desk)
    public_update(desk, number, "Investigating.")
    plan = notify_customers(
        desk.store, config, incident_id=number, dry_run=True, actor="t", clock=clock
    )
    assert len(plan.recipients) == 3 and all("@org" in a for a in plan.recipients)
    assert plan.queued == 0 and "Investigating." in plan.text
    desk.deliver()
    assert smtp.messages == []
    sent = notify_customers(
        desk.store, config, incident_id=number, dry_run=False, actor="t", clock=clock
    )
    assert sent.queued == 3
    desk.deliver()
    assert sorted(m["To"] for m in smtp.messages) == plan.recipients


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("select nextval('scenarios_id_seq')::text", "read-only transaction"),
        ("with gone as (delete from users returning email) select email from gone", "top level"),
        ("select 1; delete from users", "syntax error"),
        ("select emial from users", "emial"),
        ("select email, role from users", "returns 2 columns"),
        ("select pg_sleep(5)::text", "statement timeout"),
    ],
)
def test_a_query_that_fails_or_writes_sends_nothing(
    tmp_path: Path, sandbox_db: str, smtp: FakeSmtp, clock: FrozenClock, query: str, says: str
) -> None:
    config = _query_config(smtp.port, sandbox_db, query)
    desk = _sqlite_desk(tmp_path, config, clock)
    number = open_p0(desk)
    public_update(desk, number, "Investigating.")
    desk.later(minutes=20)
    with pytest.raises(RecipientsError, match=r"notify\.customers\.recipients_query") as caught:
        send_due(desk.store, config, clock=clock)
    assert says in str(caught.value)
    desk.deliver()
    assert smtp.messages == [] and desk.outbox() == []
    with psycopg.connect(sandbox_db) as conn:
        assert conn.execute("select count(*) from users").fetchone() == (15,)


def test_hostile_addresses_are_skipped_and_named(
    tmp_path: Path, sandbox_db: str, smtp: FakeSmtp, clock: FrozenClock
) -> None:
    values = (
        "(E'a@b.com\\\\r\\\\nBcc: x@y.com'), ('; rm -rf /'), ('$(id)@x.com'), (null),"
        " ('ok@org.example.com'), ('OK@org.example.com'), (E'\\\\x1b[31m@x.com')"
    )
    config = _query_config(smtp.port, sandbox_db, f"values {values}")
    desk = _sqlite_desk(tmp_path, config, clock)
    number = open_p0(desk)
    public_update(desk, number, "Investigating.")
    plan = notify_customers(
        desk.store, config, incident_id=number, dry_run=False, actor="t", clock=clock
    )
    assert plan.recipients == ["ok@org.example.com"]
    assert plan.skipped_count == 5
    assert any("\\r\\nBcc" in line for line in plan.skipped)
    assert all("\x1b" not in line and "\r" not in line for line in plan.skipped)
    desk.deliver()
    [mail] = smtp.messages
    assert smtp.mailbox.envelopes[0][1] == ["ok@org.example.com"]
    assert mail["Bcc"] is None


def test_more_rows_than_the_cap_sends_nothing(
    tmp_path: Path, sandbox_db: str, smtp: FakeSmtp, clock: FrozenClock
) -> None:
    query = "select 'u' || g || '@org.example.com' from generate_series(1, 10000) g"
    config = _query_config(smtp.port, sandbox_db, query, cap=5000)
    desk = _sqlite_desk(tmp_path, config, clock)
    number = open_p0(desk)
    public_update(desk, number, "Investigating.")
    with pytest.raises(RecipientsError, match="more than 5,000 rows"):
        notify_customers(
            desk.store, config, incident_id=number, dry_run=True, actor="t", clock=clock
        )
    assert desk.outbox() == []


def _sqlite_desk(tmp_path: Path, config: Config, clock: FrozenClock) -> Desk:
    store = open_store(f"sqlite:///{tmp_path / 'opsbook.db'}")
    notify.attach(store, config)
    return Desk(store, config, clock)


# --- hostile public text -------------------------------------------------------------------


def test_hostile_update_text_is_escaped_in_html_and_cannot_add_headers(
    tmp_path: Path, smtp: FakeSmtp, clock: FrozenClock
) -> None:
    desk = _sqlite_desk(tmp_path, customers_config(smtp.port), clock)
    number = open_p0(desk)
    hostile = "<script>alert(1)</script> [/x] $(id) ; rm -rf / \x1b[31m\r\nBcc: evil@x.com"
    public_update(desk, number, hostile)
    desk.later(minutes=15)
    assert due_now(desk) == 2
    for mail in smtp.messages:
        assert mail["Bcc"] is None
        html = html_of(mail)
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        text = text_of(mail)
        assert "<script>alert(1)</script> [/x] $(id) ; rm -rf /" in text
        assert "\x1b" not in text and "\\x1b[31m" in text
    assert {to for _, rcpt in smtp.mailbox.envelopes for to in rcpt} == set(ADMINS)
