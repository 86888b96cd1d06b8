"""`POST /api/v1/pagerduty`: acknowledging or resolving in PagerDuty does the same in
opsbook, on a real server, with webhooks signed as PagerDuty documents (webhooks v3)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opsbook.config.models import ServeConfig
from opsbook.incidents import service as incidents
from opsbook.store.models import AuditEntry
from tests.notify.conftest import make_config
from tests.notify.fakes import FakePagerDuty, FakeSlack
from tests.notify.twoway import (
    HOSTILE,
    PD_ROTATED,
    PD_SECRET,
    channels,
    pd_signature,
    pd_webhook,
    post_pd,
    seen,
    serving,
)

KEY = "shop-incident-1"


def _monitoring(desk: Any, incident_id: int) -> None:
    with desk.store.session() as session:
        incidents.update(
            session, incident_id=incident_id, actor="bob", clock=desk.clock, status="monitoring"
        )


def test_acknowledged_in_pagerduty_is_acknowledged_in_opsbook_without_an_echo(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0", "Site down")
    desk.deliver()
    assert pagerduty.actions() == [("trigger", KEY)]
    with serving(desk) as url:
        body = pd_webhook("incident.acknowledged", KEY, agent="Jane Doe")
        answer = post_pd(url, body)
        assert answer.status_code == 200
        assert answer.json() == {"outcome": "acknowledged", "incident": incident_id}
        # PagerDuty redelivers the same event (same id): nothing new on the timeline.
        again = post_pd(url, body)
        assert again.json() == {"outcome": "replayed", "incident": incident_id}
    state = seen(desk, incident_id)
    assert state.status == "acknowledged"
    assert state.kinds() == [("opened", "alice"), ("status", "pagerduty:Jane Doe")]
    ack = state.events[1]
    assert ack.text == "Acknowledged in PagerDuty"
    assert ack.data["via"] == "pagerduty" and ack.data["came_from"] == ["pagerduty"]
    desk.deliver()
    # Slack hears of it; PagerDuty, where it was done, is not sent an acknowledge back.
    assert pagerduty.actions() == [("trigger", KEY)]
    assert [m["text"].split(":")[0] for m in slack.messages] == ["New incident", "Acknowledged"]
    with desk.store.reading() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action.like("incident.%")))
        assert [(a.action, a.actor, a.outcome) for a in audit] == [
            ("incident.acknowledge", "pagerduty:Jane Doe", "ok")
        ]


def test_resolved_in_pagerduty_obeys_the_monitoring_guard(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0", "Site down")
    _monitoring(desk, incident_id)
    desk.later(minutes=12)
    with serving(desk) as url:
        body = pd_webhook("incident.resolved", KEY, agent="Jane Doe")
        early = post_pd(url, body)
        # 200 all the same: PagerDuty would retry a refusal forever, and it cannot change.
        assert early.status_code == 200 and early.json()["outcome"] == "refused"
        assert post_pd(url, body).json()["outcome"] == "replayed"
        state = seen(desk, incident_id)
        assert state.status == "monitoring"
        [note] = [e for e in state.events if e.kind == "note"]
        assert note.actor == "pagerduty:Jane Doe"
        assert note.text.startswith("PagerDuty asked to resolve; opsbook refused: incident #1")
        assert "monitoring for 12 min of the 15 min the runbook asks for" in note.text
        assert "(ready at 09:45 UTC)" in note.text
        desk.later(minutes=3)
        later = post_pd(url, pd_webhook("incident.resolved", KEY, agent="Jane Doe"))
        assert later.json() == {"outcome": "resolved", "incident": incident_id}
    state = seen(desk, incident_id)
    assert state.status == "resolved" and state.events[-1].actor == "pagerduty:Jane Doe"
    desk.deliver()
    # The resolve goes back under the same dedup_key: harmless (PagerDuty's incident is
    # resolved already; a resolve for it changes nothing) and it keeps opsbook's record of
    # what PagerDuty was told true, so a reopen pages again.
    assert pagerduty.actions() == [("trigger", KEY), ("resolve", KEY)]


def test_any_of_several_signatures_may_match_during_a_secret_rotation(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0")
    with serving(desk) as url:
        body = pd_webhook("incident.acknowledged", KEY)
        answer = post_pd(url, body, pd_signature(body, PD_ROTATED, PD_SECRET))
    assert answer.json() == {"outcome": "acknowledged", "incident": incident_id}


def _forged(body: bytes) -> dict[str, str | None]:
    return {
        "missing": "",
        "wrong secret": pd_signature(body, "not-the-secret-at-all"),
        "another body": pd_signature(b'{"event": {}}', PD_SECRET),
        "no v1": pd_signature(body, PD_SECRET).replace("v1=", "v0="),
        "hostile": "v1=$(reboot); rm -rf /,v1=[/x]'\"\\",
        "many": ",".join(["v1=00"] * 500),
    }


def test_unsigned_or_badly_signed_webhooks_are_refused_and_change_nothing(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0")
    body = pd_webhook("incident.acknowledged", KEY)
    with serving(desk) as url:
        for case, signature in _forged(body).items():
            answer = post_pd(url, body, signature)
            assert answer.status_code == 403, case
            assert answer.json()["error"] == "bad signature", case
    state = seen(desk, incident_id)
    assert state.status == "open" and len(state.events) == 1


NOT_WEBHOOKS = [
    b"{not json",
    b'{"event": {"id": "x"}}',
    b'{"event": {"id": "", "event_type": "incident.acknowledged"}}',
    b'{"event": {"id": "' + b"x" * 300 + b'", "event_type": "a"}}',
    b'{"event": {"id": "\\ud800", "event_type": "a"}}',
    b'{"event": NaN}',
    b'{"event": {"id": "1", "event_type": "incident.acknowledged", "agent": 1e999}}',
]


def test_signed_bodies_that_are_not_webhooks_are_refused(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    with serving(desk) as url:
        for body in NOT_WEBHOOKS:
            answer = post_pd(url, body)
            assert answer.status_code == 400, body[:40]
            assert answer.json()["error"] == "not a PagerDuty v3 webhook", body[:40]
        deep = post_pd(url, b"[" * 100 + b"]" * 100)
        assert (deep.status_code, deep.json()["error"]) == (
            400,
            "JSON nested deeper than 64 levels",
        )


def test_a_body_over_the_limit_is_refused_before_it_is_read(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    config = make_config(channels(slack, pagerduty))
    desk = desk_for(config.model_copy(update={"serve": ServeConfig(max_body=4096)}))
    big = pd_webhook("incident.acknowledged", KEY, agent="J" * 10_000)
    with serving(desk) as url:
        answer = post_pd(url, big)
    assert answer.status_code == 413


def test_other_events_and_other_keys_are_answered_200_and_left_alone(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, caplog: pytest.LogCaptureFixture
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0")
    caplog.set_level(logging.INFO, logger="opsbook.notify")
    with serving(desk) as url:
        bodies = [
            pd_webhook("incident.triggered", KEY),
            pd_webhook("incident.annotated", KEY),
            pd_webhook("incident.acknowledged", "other-tool-4242"),  # another tool's
            pd_webhook("incident.acknowledged", "shop-incident-999"),  # no such incident
            pd_webhook("incident.acknowledged", "shop-incident-#1"),
            pd_webhook("incident.acknowledged", "shop-incident-99999999999999999999"),
            pd_webhook("incident.acknowledged", "elsewhere-incident-1"),  # another project
            pd_webhook("incident.acknowledged", None),  # opened in PagerDuty itself
        ]
        answers = [post_pd(url, body) for body in bodies]
    assert [a.status_code for a in answers] == [200] * len(bodies)
    assert [a.json()["outcome"] for a in answers] == ["ignored"] * 2 + ["unknown"] * 5 + ["ignored"]
    assert seen(desk, incident_id).status == "open"
    logged = [r.getMessage() for r in caplog.records if "not an incident of" in r.getMessage()]
    assert "ignored a PagerDuty acknowledge for 'other-tool-4242'" in logged[0]


def test_unconfigured_webhooks_answer_404_saying_what_to_set(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty, pd_secret=None)))
    with serving(desk) as url:
        answer = post_pd(url, pd_webhook("incident.acknowledged", KEY))
    assert answer.status_code == 404
    assert answer.json()["error"] == "PagerDuty webhooks are not configured"
    assert "webhook_secret" in answer.json()["detail"]


def test_a_hostile_agent_name_is_data_and_shows_escaped(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty, terminal: Any
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0")
    with serving(desk) as url:
        assert (
            post_pd(url, pd_webhook("incident.acknowledged", KEY, agent=HOSTILE)).json()["outcome"]
            == "acknowledged"
        )
    stored = seen(desk, incident_id).events[-1].actor
    # PostgreSQL's text holds no NUL: opsbook's store keeps U+FFFD in its place there.
    assert stored.replace("\ufffd", "\x00") == "pagerduty:" + HOSTILE
    shown = terminal(desk, "incident", "show", str(incident_id))
    assert "pagerduty:Jane; rm -rf / $(reboot) \"'[/x][bold]\\x1b[31m\\x07" in shown
    assert "\x1b" not in shown and "\x07" not in shown
    as_json = json.loads(terminal(desk, "incident", "show", str(incident_id), "--json"))
    assert as_json["timeline"][-1]["actor"].startswith("pagerduty:Jane; rm -rf /")


def test_a_burst_of_one_acknowledge_acknowledges_once(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0")
    same = pd_webhook("incident.acknowledged", KEY, event_id="01DEN4Q9ZD7A2X")
    others = [pd_webhook("incident.acknowledged", KEY, agent=f"Responder {i}") for i in range(10)]
    bodies = [same] * 20 + others
    with serving(desk) as url, httpx.Client(timeout=30) as client:

        def send(body: bytes) -> httpx.Response:
            headers = {"X-PagerDuty-Signature": pd_signature(body, PD_SECRET)}
            return client.post(f"{url}/api/v1/pagerduty", content=body, headers=headers)

        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(send, bodies))
    assert [a.status_code for a in answers] == [200] * len(bodies)
    outcomes = [a.json()["outcome"] for a in answers]
    assert outcomes.count("acknowledged") == 1
    assert set(outcomes) <= {"acknowledged", "replayed", "unchanged"}
    state = seen(desk, incident_id)
    assert [e.kind for e in state.events] == ["opened", "status"]
    desk.deliver()
    assert pagerduty.actions() == [("trigger", KEY)]  # no acknowledge storm back


def test_the_clock_that_resolves_is_the_injected_one(
    desk_for: Any, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    desk = desk_for(make_config(channels(slack, pagerduty)))
    incident_id = desk.open("P0")
    _monitoring(desk, incident_id)
    desk.later(minutes=31)
    with serving(desk) as url:
        post_pd(url, pd_webhook("incident.resolved", KEY))
    resolved = seen(desk, incident_id).events[-1]
    assert resolved.at == desk.clock.now() and resolved.data["monitored_seconds"] == 31 * 60
    assert resolved.at - dt.timedelta(minutes=31) == seen(desk, incident_id).events[1].at
