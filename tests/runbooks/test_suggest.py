from __future__ import annotations

from tests.runbooks.conftest import Ops


def _top(ops: Ops, *open_args: str) -> list[str]:
    incident = ops.json("incident", "open", *open_args)
    return [s["runbook"] for s in ops.json("runbook", "suggest", "--incident", str(incident["id"]))]


def test_database_symptoms_suggest_the_connection_runbook(ops: Ops) -> None:
    ranked = _top(
        ops,
        "--sev",
        "P1",
        "--title",
        "Too many connections",
        "--component",
        "database",
        "--symptom",
        "Queries timing out",
    )
    assert ranked[0] == "p1-db-connections"


def test_an_outage_suggests_the_p0_runbook(ops: Ops) -> None:
    ranked = _top(
        ops,
        "--sev",
        "P0",
        "--title",
        "Site down",
        "--symptom",
        "Health check endpoint returning 500",
    )
    assert ranked[0] == "p0-outage"


def test_auth_and_voice_and_email(ops: Ops) -> None:
    assert (
        _top(ops, "--sev", "P1", "--title", "Session expired errors", "--component", "auth")[0]
        == "p1-auth-failures"
    )
    assert _top(ops, "--sev", "P2", "--title", "Users can't start voice calls")[0] == (
        "voice-calls-failing"
    )
    assert _top(ops, "--sev", "P2", "--title", "Feedback emails not received")[0] == (
        "emails-not-sending"
    )


def test_show_reads_like_the_seed(ops: Ops) -> None:
    text = ops.run("runbook", "show", "p1-db-connections").output
    for line in (
        "P1: Database Connection Errors",
        '"Too many connections" errors',
        "1. Check connection pool",
        "2. Kill idle connections",
        "needs confirmation",
        "3. Check slow queries",
        "4. Kill long-running query (if identified)",
        "5. Upgrade Supabase plan (if persistent)",
        "6. Add connection pooling (PgBouncer)",
        "Prevention",
    ):
        assert line in text, line
    listed = ops.json("runbook", "list")
    assert len(listed) == 16 and all(r["valid"] for r in listed)


def test_a_team_runbook_overrides_a_builtin(ops: Ops) -> None:
    ops.book(
        "weekly",
        """\
        name: weekly
        title: Our weekly
        steps:
          - {id: coffee, title: Coffee, manual: make coffee}
        """,
    )
    listed = {r["name"]: r for r in ops.json("runbook", "list")}
    assert listed["weekly"]["title"] == "Our weekly" and listed["weekly"]["builtin"] is False
