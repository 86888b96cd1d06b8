"""The blocking tree's shape when PostgreSQL reports more than a simple chain: a waiter
held up by two sessions, a cycle not yet broken by the deadlock detector, a blocker that
is no session (a prepared transaction), and a chain too long to recurse through."""

from __future__ import annotations

from opsbook.postgres.locks import LockSession, tree


def _session(pid: int, *blocked_by: int, waited: float | None = None) -> LockSession:
    return LockSession(
        pid=pid,
        database="db",
        user="app",
        application="",
        hidden=False,
        state="active",
        query="select 1",
        blocked_by=list(blocked_by),
        waiting_seconds=waited if blocked_by else None,
        lock_mode="ShareLock" if blocked_by else None,
        lock_target="t" if blocked_by else None,
        holds=[],
    )


def _shape(found: list[LockSession]) -> list[tuple[int, int, int]]:
    return [(s.pid, s.depth, s.root) for s in found]


def test_a_waiter_sits_under_the_blocker_nearest_a_root() -> None:
    found = tree(
        [
            _session(30, 20, 10, waited=5.0),  # waits on the root and on a waiter
            _session(20, 10, waited=9.0),
            _session(10),
            _session(40, 10, waited=1.0),
        ]
    )
    # Under its root, the longest waiting first.
    assert _shape(found) == [(10, 0, 10), (20, 1, 10), (30, 1, 10), (40, 1, 10)]


def test_roots_holding_up_most_come_first() -> None:
    found = tree([_session(1), _session(2), _session(3, 2), _session(4, 2), _session(5, 1)])
    assert [s.pid for s in found if s.depth == 0] == [2, 1]


def test_a_cycle_is_entered_at_its_lowest_pid() -> None:
    found = tree([_session(7, 9), _session(9, 8), _session(8, 7)])
    assert _shape(found) == [(7, 0, 7), (8, 1, 7), (9, 2, 7)]


def test_a_blocker_that_is_no_session_leaves_its_waiter_a_root() -> None:
    assert _shape(tree([_session(5, 0)])) == [(5, 0, 5)]


def test_a_long_chain_does_not_recurse() -> None:
    chain = [_session(1), *(_session(pid, pid - 1) for pid in range(2, 5001))]
    found = tree(reversed(chain))
    assert [s.depth for s in found] == list(range(5000))
