"""Who blocks whom, as a tree: the root blocker first, each waiter under the session it
waits on, as pg_activity shows it.

A flat "pid X is blocked by pid Y" list mixes the session to act on (the root, which waits
on nobody) with waiters in the middle of a chain, which only pass the wait along: ending a
middle waiter frees its own waiters and leaves the root holding everyone else up.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from opsbook.postgres import queries
from opsbook.postgres.rights import named


@dataclass(frozen=True)
class LockSession:
    """A session that waits on a lock or holds one up (`lock_tree.sql`), placed in the tree:
    `depth` 0 is a root blocker, `root` the pid at the top of its branch. `lock_mode` and
    `lock_target` say what it waits for (None for a root); `holds` the locks it holds that
    its waiters ask for. `hidden`: PostgreSQL hides its state and query from this role."""

    pid: int
    database: str | None
    user: str | None
    application: str | None
    hidden: bool
    state: str | None
    query: str | None
    blocked_by: list[int]
    waiting_seconds: float | None
    lock_mode: str | None
    lock_target: str | None
    holds: list[dict[str, str]]
    depth: int = 0
    root: int = 0

    @property
    def name(self) -> str:
        """`pid 12`, or `pid 12 (details hidden: grant pg_monitor)`."""
        return named(self.pid, hidden=self.hidden)

    @property
    def waits_for(self) -> str | None:
        """`ShareLock on orders`: the lock it waits for."""
        return f"{self.lock_mode} on {self.lock_target}" if self.lock_mode else None

    @property
    def held(self) -> str:
        """`AccessExclusiveLock on orders, ShareLock on items`: what its waiters wait for."""
        return ", ".join(f"{h['mode']} on {h['target']}" for h in self.holds)


def blocking_tree(conn: psycopg.Connection[Any]) -> list[LockSession]:
    """Every session in a lock wait, root blockers first, each followed by its waiters
    (depth first), so the list reads as the tree."""
    return tree(queries.fetch(conn, "lock_tree", LockSession))


def tree(found: Iterable[LockSession]) -> list[LockSession]:
    """`found` in tree order with depth and root set. A waiter held up by several sessions
    sits under the one that waits on fewest others; a cycle (a deadlock PostgreSQL has not
    broken yet) is entered at its lowest pid."""
    sessions = {s.pid: s for s in found}
    children: dict[int, list[int]] = defaultdict(list)
    for session in sessions.values():
        parent = _parent(session, sessions)
        if parent is not None:
            children[parent].append(session.pid)
    order = sorted(
        (pid for pid, s in sessions.items() if _parent(s, sessions) is None),
        key=lambda pid: (-len(_below(pid, children)), pid),
    )
    placed: list[LockSession] = []
    seen: set[int] = set()
    for top in [*order, *sorted(sessions)]:  # what no root reaches is in a cycle
        if top in seen:
            continue
        for pid, depth in _walk(top, children, sessions, seen):
            placed.append(dataclasses.replace(sessions[pid], depth=depth, root=top))
    return placed


def _walk(
    top: int, children: dict[int, list[int]], sessions: dict[int, LockSession], seen: set[int]
) -> list[tuple[int, int]]:
    """Depth first from `top`, the longest waiting first; no recursion, so a long chain
    cannot overflow the stack."""
    out: list[tuple[int, int]] = []
    stack = [(top, 0)]
    while stack:
        pid, depth = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        out.append((pid, depth))
        kids = sorted(children[pid], key=lambda c: (-(sessions[c].waiting_seconds or 0), c))
        stack.extend((kid, depth + 1) for kid in reversed(kids))
    return out


def _below(top: int, children: dict[int, list[int]]) -> set[int]:
    """The sessions held up, directly or not, by `top`."""
    found: set[int] = set()
    stack = list(children[top])
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.add(pid)
            stack.extend(children[pid])
    return found


def _parent(session: LockSession, sessions: dict[int, LockSession]) -> int | None:
    """The blocker to show it under: one that waits on nobody itself if there is one, else
    the one waiting on fewest, the lower pid on a tie."""
    known = [pid for pid in session.blocked_by if pid in sessions and pid != session.pid]
    if not known:
        return None
    return min(known, key=lambda pid: (len(sessions[pid].blocked_by), pid))
