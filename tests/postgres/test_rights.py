"""A role without pg_monitor (managed PostgreSQL's usual app role) on a real server where
another role's sessions sit idle, idle in a transaction and waiting on a lock: every
`db` command counts them, says in one line what it cannot see, and never crashes."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from opsbook.postgres.cluster import TempCluster
from tests.conftest import wait_for
from tests.postgres.conftest import Db, Sessions, as_role

# What the role's name becomes in `grant pg_monitor to ...`: quoted as SQL needs it.
QUOTED = '"ops ""watch"" [/x] $(id)"'
NOTICE = f"this role sees only its own sessions' details: grant pg_monitor to {QUOTED}"
# Session text is data: markup, shell, quotes and a terminal escape must show as typed.
HOSTILE = "/* '; rm -rf / $(reboot) [/x] [bold]loud \x1b[2J */"
WAITING_INSERT = "insert into t2 values (1) /* '; rm -rf / $(reboot) [/x] [bold]loud \x1b[2J */"


@dataclass
class Chain:
    """A holds t1; B waits for t1 while holding t2; C waits for t2."""

    a: int
    b: int
    c: int


def lock_chain(sessions: Sessions, role: str) -> Chain:
    with psycopg.connect(sessions.url, autocommit=True) as setup:
        setup.execute("create table t1 (id int); create table t2 (id int)")
        setup.execute(sql.SQL("grant all on t1, t2 to {}").format(sql.Identifier(role)))
    a = sessions.open(role=role, autocommit=False, application="holder")
    a.execute("lock table t1 in access exclusive mode")
    b = sessions.open(role=role, autocommit=False, application="mid [/x] $(id)")
    b.execute("lock table t2 in share mode")
    sessions.in_background(b, "lock table t1 in share mode")
    c = sessions.open(role=role, application="tail")
    sessions.in_background(c, WAITING_INSERT)
    with psycopg.connect(sessions.url, autocommit=True) as look:
        wait_for(
            lambda: (
                look.execute("select count(*) from pg_locks where not granted").fetchone() == (2,)
            )
        )
    return Chain(sessions.pid(a), sessions.pid(b), sessions.pid(c))


@pytest.fixture
def watcher(pg_url: str, watcher_role: str) -> str:
    """The test database as the role without pg_monitor."""
    return as_role(pg_url, watcher_role)


def _idle_of_others(sessions: Sessions, role: str) -> list[int]:
    opened = [sessions.open(role=role) for _ in range(2)]
    for conn in opened:
        conn.execute("select 1")
    in_transaction = sessions.open(role=role, autocommit=False)
    in_transaction.execute("select 1")
    return [sessions.pid(c) for c in (*opened, in_transaction)]


def test_connections_count_other_roles_sessions_as_hidden(
    db: Db, sessions: Sessions, app_role: str, watcher: str
) -> None:
    _idle_of_others(sessions, app_role)

    def by(group: str) -> dict[str, int]:
        rows = db.json("--database-url", watcher, "connections", "--by", group)
        return {r["key"]: r["connections"] for r in rows}

    wait_for(lambda: by("user").get(app_role) == 3)
    assert by("state")["(hidden)"] == 3
    status = db.json("--database-url", watcher, "status")
    assert status["connections"]["hidden"] == 3
    assert status["connections"]["total"] >= 4  # theirs and this command's own
    assert status["visibility"]["sees_all"] is False
    assert status["visibility"]["notice"] == NOTICE

    shown = db.run("--database-url", watcher, "connections", "--by", "state")
    assert shown.exit_code == 0, shown.output
    assert shown.stderr.count(NOTICE) == 1  # one line, markup and `$(..)` shown as typed
    assert "details hidden" in shown.stdout and "(hidden)" in shown.stdout


def test_a_role_with_pg_monitor_sees_all_and_keeps_what_it_may_not_end(
    db: Db, pg_cluster: TempCluster, sessions: Sessions, app_role: str
) -> None:
    with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
        admin.execute("create role monitor_ok login in role pg_monitor")
    try:
        _idle_of_others(sessions, app_role)
        url = as_role(sessions.url, "monitor_ok")
        result = db.run("--database-url", url, "connections", "--by", "state", "--json")
        assert result.exit_code == 0 and "grant pg_monitor" not in result.stderr
        assert "(hidden)" not in {r["key"] for r in db.json("--database-url", url, "connections")}
        # It sees their sessions in full, but ending them needs pg_signal_backend: kept.
        listed = db.json(
            "--database-url", url, "idle", "--older-than", "0s", "--terminate", "--yes"
        )
        assert listed["ended"] == [] and len(listed["targets"]) == 0
        assert {p["reason"] for p in listed["protected"]} == {
            "this role may not end app_user's sessions (pg_signal_backend)"
        }
    finally:
        sessions.close()
        with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
            admin.execute("drop role monitor_ok")


def test_idle_says_it_cannot_see_or_end_other_roles_sessions(
    db: Db, sessions: Sessions, app_role: str, watcher: str
) -> None:
    theirs = _idle_of_others(sessions, app_role)
    listed = db.json("--database-url", watcher, "idle", "--older-than", "0s")
    assert listed["targets"] == [] and sorted(listed["hidden"]) == sorted(theirs)

    shown = db.run("--database-url", watcher, "idle", "--older-than", "0s", "--terminate", "--yes")
    assert shown.exit_code == 0, shown.output
    assert "no session to end" not in shown.stdout
    assert (
        "this role can neither see whether 3 session(s) of other roles in this database are "
        f"idle nor end them: grant pg_monitor to {QUOTED} to see them (ending them also needs "
        "pg_signal_backend)"
    ) in shown.stdout
    assert [sessions.state(pid) for pid in theirs] == ["idle", "idle", "idle in transaction"]


def test_kill_keeps_a_hidden_session_and_says_why(
    db: Db, sessions: Sessions, app_role: str, watcher: str
) -> None:
    [pid, *_] = _idle_of_others(sessions, app_role)
    done = db.json("--database-url", watcher, "kill", str(pid), "--yes")
    assert done["ended"] == []
    assert done["protected"] == [
        {
            "pid": pid,
            "reason": "another role's session whose details this role cannot see "
            "(details hidden: grant pg_monitor)",
        }
    ]
    assert sessions.state(pid) == "idle"


def test_status_shows_hidden_blockers_by_pid_and_does_not_crash(
    db: Db, sessions: Sessions, app_role: str, watcher: str
) -> None:
    chain = lock_chain(sessions, app_role)
    report = db.json("--database-url", watcher, "status")
    found = {f["check"]: f for f in report["findings"]}
    assert found["blocked queries"]["value"].startswith("2 waiting up to")
    assert found["blocked queries"]["reason"] == (
        f"root blocker: pid {chain.a} (details hidden: grant pg_monitor)"
    )
    assert report["connections"]["waiting"] == 2  # from pg_locks, readable by every role
    assert [(s["pid"], s["depth"], s["hidden"], s["query"]) for s in report["blocked"]] == [
        (chain.a, 0, True, None),
        (chain.b, 1, True, None),
        (chain.c, 2, True, None),
    ]

    shown = db.run("--database-url", watcher, "status")
    assert shown.exit_code == 0, shown.output
    assert NOTICE in shown.stderr
    assert f"pid {chain.a} (details hidden: grant pg_monitor) holds AccessExclusiveLock on t1" in (
        shown.stdout
    )
    assert "None" not in shown.stdout and "insufficient privilege" not in shown.stdout


def test_blocking_tree_root_first_with_lock_modes(
    db: Db, sessions: Sessions, app_role: str
) -> None:
    chain = lock_chain(sessions, app_role)
    tree = db.json("blocked")
    assert [
        (s["pid"], s["depth"], s["root"], s["blocked_by"], s["lock_mode"], s["lock_target"])
        for s in tree
    ] == [
        (chain.a, 0, chain.a, [], None, None),
        (chain.b, 1, chain.a, [chain.a], "ShareLock", "t1"),
        (chain.c, 2, chain.a, [chain.b], "RowExclusiveLock", "t2"),
    ]
    assert [s["holds"] for s in tree] == [
        [{"mode": "AccessExclusiveLock", "target": "t1"}],
        [{"mode": "ShareLock", "target": "t2"}],
        [],
    ]
    assert tree[2]["query"].endswith(HOSTILE) and tree[1]["application"] == "mid [/x] $(id)"

    shown = db.run("blocked")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"pid {chain.a} holds AccessExclusiveLock on t1: app_user@")
    assert lines[1].startswith(f"└─ pid {chain.b} waits ")
    assert "for ShareLock on t1; holds ShareLock on t2: " in lines[1]
    assert "idle in transaction" not in lines[1] and "mid [/x] $(id)" in lines[1]
    assert lines[2].startswith(f"   └─ pid {chain.c} waits ")
    assert "for RowExclusiveLock on t2: " in lines[2]
    # The query's terminal escape is shown escaped, its markup as typed.
    assert "\x1b" not in shown.stdout and "\\x1b[2J" in lines[2] and "[/x] [bold]loud" in lines[2]


def test_slow_marks_lock_waiters_and_other_databases(
    db: Db,
    pg_cluster: TempCluster,
    sessions: Sessions,
    app_role: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # a wide terminal: table cells shown whole
    chain = lock_chain(sessions, app_role)
    elsewhere = psycopg.connect(pg_cluster.url(), autocommit=True, application_name="away")
    sessions.conns.append(elsewhere)
    sessions.in_background(elsewhere, "select pg_sleep(600)")
    sessions.wait_state(sessions.pid(elsewhere), "active")
    found = {q["pid"]: q for q in db.json("slow")}
    assert found[chain.c]["blocked_by"] == [chain.b] and not found[chain.c]["other_database"]
    away = found[sessions.pid(elsewhere)]
    assert (away["database"], away["other_database"], away["blocked_by"]) == (
        "postgres",
        True,
        [],
    )

    shown = db.run("slow")
    assert shown.exit_code == 0, shown.output
    assert f"waits on a lock held by pid {chain.b}" in shown.stdout
    assert "other database: postgres" in shown.stdout


def test_terminate_with_yes_says_terminated(db: Db, sessions: Sessions, app_role: str) -> None:
    leaked = [sessions.open(role=app_role) for _ in range(2)]
    for conn in leaked:
        conn.execute("select 1")
    done = db.run("idle", "--older-than", "0s", "--terminate", "--yes")
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("terminated 2 of 2 session(s):")
    assert "would" not in done.stdout
    for conn in leaked:
        sessions.wait_state(sessions.pid(conn), None)
