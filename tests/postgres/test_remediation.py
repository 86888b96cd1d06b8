"""Ending sessions as promised, while opsbook's own and protected backends survive."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from opsbook.cli import app
from tests.postgres.conftest import Db, Sessions


def test_idle_lists_then_terminates_only_what_it_showed(
    db: Db, sessions: Sessions, app_role: str
) -> None:
    leaked = [sessions.open(role=app_role) for _ in range(3)]
    admin = sessions.open(application="psql")  # superuser-owned: kept without --force
    mine = sessions.open(role=app_role, application="opsbook-watch")  # says it is opsbook's
    for conn in (*leaked, admin, mine):
        conn.execute("select 1")
    leaked_pids = sorted(sessions.pid(c) for c in leaked)

    listed = db.json("idle", "--older-than", "0s")
    assert sorted(s["pid"] for s in listed["targets"]) == leaked_pids
    kept = {p["pid"]: p["reason"] for p in listed["protected"]}
    assert kept[sessions.pid(admin)] == "owned by superuser postgres (pass --force to include it)"
    assert kept[sessions.pid(mine)] == "an opsbook connection"

    dry = db.run("idle", "--older-than", "0s", "--terminate")  # no --yes, no terminal
    assert "dry run: pass --yes to terminate 3 session(s)" in dry.output
    assert all(sessions.state(p) == "idle" for p in leaked_pids)

    done = db.json("idle", "--older-than", "0s", "--terminate", "--yes")
    assert sorted(done["ended"]) == leaked_pids
    for pid in leaked_pids:
        sessions.wait_state(pid, None)
    assert sessions.state(sessions.pid(admin)) == "idle"
    assert sessions.state(sessions.pid(mine)) == "idle"


def test_idle_older_than_filters_by_age(db: Db, sessions: Sessions, app_role: str) -> None:
    sessions.open(role=app_role).execute("select 1")
    assert db.json("idle", "--older-than", "10m")["targets"] == []


def test_idle_in_transaction(db: Db, sessions: Sessions, app_role: str) -> None:
    holding = sessions.open(role=app_role, autocommit=False)
    holding.execute("select 1")  # opens a transaction and leaves it open
    sessions.open(role=app_role).execute("select 1")
    found = db.json("idle", "--older-than", "0s", "--in-transaction")
    assert [s["pid"] for s in found["targets"]] == [sessions.pid(holding)]
    assert found["targets"][0]["state"] == "idle in transaction"


def test_terminations_are_audited_and_noted_on_the_incident(
    db: Db, sessions: Sessions, app_role: str
) -> None:
    conn = sessions.open(role=app_role)
    conn.execute("select 1")
    runner = CliRunner()
    opened = json.loads(
        runner.invoke(
            app,
            [
                "--config",
                str(db.config),
                "incident",
                "open",
                "--sev",
                "P1",
                "--title",
                "Too many connections",
                "--json",
            ],
        ).stdout
    )
    db.json("idle", "--older-than", "0s", "--terminate", "--yes", "--incident", str(opened["id"]))
    audit = json.loads(
        runner.invoke(app, ["--config", str(db.config), "audit", "list", "--json"]).stdout
    )
    assert [(a["action"], a["outcome"]) for a in audit] == [
        ("db.terminate", "ok"),
        ("db.terminate", "started"),
    ]
    assert audit[0]["target"].startswith(f"pid {sessions.pid(conn)} (app_user@")
    shown = json.loads(
        runner.invoke(
            app, ["--config", str(db.config), "incident", "show", str(opened["id"]), "--json"]
        ).stdout
    )
    assert shown["timeline"][-1]["text"] == f"terminated 1 session(s): {sessions.pid(conn)}"


def test_kill_cancel_keeps_the_session_and_kill_ends_it(
    db: Db, sessions: Sessions, app_role: str
) -> None:
    runaway = sessions.open(role=app_role)
    pid = sessions.pid(runaway)
    sessions.in_background(runaway, "select pg_sleep(600)")
    sessions.wait_state(pid, "active")
    slow = db.json("slow")
    assert [q["pid"] for q in slow] == [pid] and "pg_sleep" in slow[0]["query"]
    db.json("kill", str(pid), "--cancel", "--yes")
    sessions.wait_state(pid, "idle")  # the query is gone, the session stays
    db.json("kill", str(pid), "--yes")
    sessions.wait_state(pid, None)


def test_superuser_sessions_need_force(db: Db, sessions: Sessions) -> None:
    admin = sessions.open(application="psql")
    admin.execute("select 1")
    pid = sessions.pid(admin)
    kept = db.json("kill", str(pid), "--yes")
    assert kept["ended"] == [] and kept["protected"][0]["pid"] == pid
    assert sessions.state(pid) == "idle"
    ended = db.json("kill", str(pid), "--yes", "--force")
    assert ended["ended"] == [pid]
    sessions.wait_state(pid, None)


def test_all_connections_spares_opsbook_itself(db: Db, sessions: Sessions, app_role: str) -> None:
    others = [sessions.open(role=app_role) for _ in range(2)]
    for conn in others:
        conn.execute("select 1")
    done = db.json("kill", "--all-connections", "--yes", "--force")
    assert sorted(done["ended"]) == sorted(sessions.pid(c) for c in others)
    for conn in others:
        sessions.wait_state(sessions.pid(conn), None)


def test_bad_kill_input_changes_nothing(db: Db, sessions: Sessions, app_role: str) -> None:
    conn = sessions.open(role=app_role)
    conn.execute("select 1")
    for args, error in (
        (["kill", "999999", "--yes"], "no client session with pid 999999"),
        (["kill"], "name the PIDs to end, or pass --all-connections"),
        (["kill", str(sessions.pid(conn)), "--all-connections"], "not both"),
        (["idle", "--older-than", "soon"], "--older-than: 'soon' is not a duration"),
        (["connections", "--by", "colour"], "--by 'colour': use state, user"),
    ):
        result = db.run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert error in result.output
    assert sessions.state(sessions.pid(conn)) == "idle"
