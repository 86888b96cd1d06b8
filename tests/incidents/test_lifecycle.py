from __future__ import annotations

import itertools

import pytest

from opsbook.incidents import service
from opsbook.incidents.lifecycle import Status, allowed_moves, can_move, public_status
from tests.incidents.conftest import Desk


def test_the_seed_lifecycle_runs_forward() -> None:
    path = list(Status)
    assert [s.value for s in path] == [
        "open",
        "acknowledged",
        "investigating",
        "identified",
        "monitoring",
        "resolved",
    ]
    for current, nxt in itertools.pairwise(path):
        assert can_move(current, nxt)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.ACKNOWLEDGED, Status.OPEN),
        (Status.INVESTIGATING, Status.ACKNOWLEDGED),
        (Status.MONITORING, Status.ACKNOWLEDGED),
        (Status.RESOLVED, Status.MONITORING),
        (Status.RESOLVED, Status.OPEN),
        (Status.IDENTIFIED, Status.IDENTIFIED),
    ],
)
def test_illegal_moves(current: Status, target: Status) -> None:
    assert not can_move(current, target)


def test_a_fix_that_did_not_hold_goes_back_and_resolved_can_reopen() -> None:
    assert allowed_moves(Status.MONITORING) == [
        Status.INVESTIGATING,
        Status.IDENTIFIED,
        Status.RESOLVED,
    ]
    assert allowed_moves(Status.RESOLVED) == [Status.INVESTIGATING]


def test_public_statuses_use_statuspage_words() -> None:
    assert [public_status(s) for s in Status] == [
        "investigating",
        "investigating",
        "investigating",
        "identified",
        "monitoring",
        "resolved",
    ]


def test_an_illegal_move_names_the_allowed_ones_and_changes_nothing(desk: Desk) -> None:
    incident_id = desk.open()
    desk.do(service.update, incident_id, status="monitoring", message="restarted the pool")
    with pytest.raises(service.IllegalMove) as caught:
        desk.do(service.update, incident_id, status="acknowledged")
    assert str(caught.value) == (
        f"incident #{incident_id} is monitoring; it cannot move to acknowledged"
        " (allowed from monitoring: investigating, identified, resolved)"
    )
    assert desk.incident(incident_id).status == "monitoring"
    with desk.session() as session:
        assert len(service.timeline(session, incident_id=incident_id)) == 2


def test_ack_twice_is_refused(desk: Desk) -> None:
    incident_id = desk.open()
    desk.do(service.acknowledge, incident_id)
    with pytest.raises(service.IllegalMove, match="already acknowledged"):
        desk.do(service.acknowledge, incident_id)


def test_same_status_again_is_a_plain_update(desk: Desk) -> None:
    incident_id = desk.open()
    desk.do(service.update, incident_id, status="identified", message="pool exhausted")
    desk.do(service.update, incident_id, status="identified", message="still on it", public=True)
    with desk.session() as session:
        last = service.timeline(session, incident_id=incident_id)[-1]
    assert (last.kind, last.text, last.public) == ("update", "still on it", True)


def test_reopen_after_resolve(desk: Desk) -> None:
    incident_id = desk.open()
    desk.do(service.update, incident_id, status="monitoring", message="fixed")
    desk.later(minutes=15)
    desk.resolve(incident_id)
    desk.do(service.update, incident_id, status="investigating", message="it is back")
    assert desk.incident(incident_id).status == "investigating"
