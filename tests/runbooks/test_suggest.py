from __future__ import annotations

import os
from pathlib import Path

import pytest

from opsbook.config import Config, load_config
from opsbook.runbooks.model import Runbook
from opsbook.runbooks.suggest import RUNBOOKS, RunbookCache, first_pick, rank, suggest_for
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
    text = " ".join(ops.run("runbook", "show", "p1-db-connections").output.split())
    for line in (
        "P1: Database Connection Errors",
        '"Too many connections" errors',
        "1. auto Check connection pool",
        "2. asks Kill idle connections",
        "3. auto Check slow queries",
        "4. asks Kill long-running query (if identified)",
        "5. you Upgrade Supabase plan (if persistent)",
        "6. you Add connection pooling (PgBouncer)",
        "7. you Prevention",
    ):
        assert line in text, line
    listed = ops.json("runbook", "list")
    assert len(listed) == 18 and all(r["valid"] for r in listed)


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


# --- the parsed runbooks, kept per file ----------------------------------------------------

BOOK = """\
name: {name}
title: {title}
symptoms: [{symptom}]
components: [workers]
steps:
  - {{id: look, title: Look, manual: look at it}}
"""
T = 1_700_000_000 * 10**9  # file times set by hand: the test never depends on the clock's tick


def _folder(tmp_path: Path) -> tuple[Config, Path]:
    books = tmp_path / "runbooks"
    books.mkdir()
    (tmp_path / "opsbook.yaml").write_text("runbooks:\n  paths: [runbooks]\n")
    return load_config(tmp_path / "opsbook.yaml"), books


def _write(books: Path, name: str, title: str, *, mtime_ns: int, symptom: str = "x") -> None:
    path = books / f"{name}.yaml"
    path.write_text(BOOK.format(name=name, title=title, symptom=symptom))
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _by_name(cache: RunbookCache, config: Config) -> dict[str, Runbook]:
    return {r.name: r for r in cache.runbooks(config)}


def test_an_unchanged_runbook_is_parsed_once(tmp_path: Path) -> None:
    config, books = _folder(tmp_path)
    _write(books, "disk", "Disk full on workers", mtime_ns=T)
    cache = RunbookCache()
    first, again = _by_name(cache, config), _by_name(cache, config)
    assert "disk" in first and "p0-outage" in first
    assert all(again[name] is book for name, book in first.items())  # the same objects


def test_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    config, books = _folder(tmp_path)
    _write(books, "disk", "Disk full on workers", mtime_ns=T)
    cache = RunbookCache()
    before = _by_name(cache, config)
    _write(books, "disk", "Queue stuck behind one message", mtime_ns=T + 10**9)
    after = _by_name(cache, config)
    assert after["disk"].title == "Queue stuck behind one message"
    assert after["p0-outage"] is before["p0-outage"]  # the others were not read again
    # Same size, new time: still seen.
    _write(books, "disk", "Queue stuck behind two message", mtime_ns=T + 2 * 10**9)
    assert _by_name(cache, config)["disk"].title == "Queue stuck behind two message"


def test_new_removed_and_invalid_files(tmp_path: Path) -> None:
    config, books = _folder(tmp_path)
    cache = RunbookCache()
    assert "disk" not in _by_name(cache, config)
    _write(books, "disk", "Disk full on workers", mtime_ns=T)
    assert "disk" in _by_name(cache, config)  # a new file is picked up
    (books / "broken.yaml").write_text("name: broken\ntitle: Broken\nsteps: nope\n")
    assert "broken" not in _by_name(cache, config)  # does not validate: skipped
    _write(books, "broken", "Fixed now", mtime_ns=T + 10**9)
    assert _by_name(cache, config)["broken"].title == "Fixed now"
    (books / "disk.yaml").unlink()
    assert "disk" not in _by_name(cache, config)


def test_suggest_for_reads_the_runbook_as_it_is_now(tmp_path: Path) -> None:
    config, books = _folder(tmp_path)

    def top(title: str) -> str | None:
        ranked = suggest_for(config, title=title, symptoms=[], component=None, severity="P2")
        return ranked[0].runbook if ranked else None

    _write(books, "workers", "Disk full on workers", mtime_ns=T, symptom="disk full")
    assert top("Disk full") == "workers"
    _write(books, "workers", "Queue stuck on workers", mtime_ns=T + 10**9, symptom="queue")
    assert top("Queue stuck") == "workers"
    assert top("Disk full") != "workers"


# --- which runbook an alert gets ------------------------------------------------------------

# Titles as routing writes them ("<check> check failing: <what it saw>") and as
# Alertmanager names alerts, with the component and severity the alert carries.
TABLE = [
    # component and explicit symptoms
    ("clerk-webhook check failing: HTTP 401 Unauthorized", "auth", "P1", "p1-auth-failures"),
    (
        "vapi-status check failing: Vapi: major outage: Voice API",
        "voice",
        "P1",
        "voice-calls-failing",
    ),
    ("voice check failing: Calls failing to connect", "voice", "P2", "voice-calls-failing"),
    (
        "resend-dns check failing: DKIM record missing for mail.example.com",
        "email",
        "P2",
        "emails-not-sending",
    ),
    (
        "db-connections check failing: 97 of 100 connections in use",
        "database",
        "P1",
        "p1-db-connections",
    ),
    ("PostgresTooManyConnections", "database", "P1", "p1-db-connections"),
    ("health check failing: HTTP 500 from /api/health", "app", "P0", "p0-outage"),
    ("dashboard check failing: /dashboard took 7.4s (limit 5s)", "app", "P2", "slow-dashboard"),
    ("VercelFunctionsTimingOut: functions out of memory", "hosting", "P2", "high-memory"),
    ("Error rate up right after deploy a1b2c3d", "app", "P1", "deploy-rollback"),
    # symptoms alone, no component
    ("FeedbackEmailsNotReceived", None, "P2", "emails-not-sending"),
    ("Users can't start voice calls", None, "P2", "voice-calls-failing"),
    # generic words only, or one word in common: nothing rather than a wrong runbook
    ("api check failing: HTTP 503", None, "P1", None),
    # payments has its runbook: the seed's P0 "payment processing down"
    (
        "stripe-webhook check failing: HTTP 503 Service Unavailable",
        "payments",
        "P0",
        "payments-down",
    ),
    ("sentry check failing: error rate 4.2% above 1%", None, "P2", None),
    ("HighErrorRate", None, "P2", None),
    ("cron check failing: nightly export failed", None, "P3", None),
    ("login check failing: sign-in page answers 500", None, "P1", None),
    ("AlertmanagerDown", None, "P1", None),
    # the component alone matches four runbooks alike: no first pick
    ("web check failing: no answer within 10s", "app", "P1", None),
]


BUILTIN = Config.model_validate({"runbooks": {"paths": []}})  # the shipped runbooks only


@pytest.mark.parametrize(("title", "component", "severity", "expected"), TABLE)
def test_each_alert_gets_its_runbook_or_none(
    title: str, component: str | None, severity: str, expected: str | None
) -> None:
    ranked = suggest_for(
        BUILTIN, title=title, symptoms=[title], component=component, severity=severity
    )
    pick = first_pick(ranked)
    assert (pick.runbook if pick else None) == expected, [(s.runbook, s.score) for s in ranked]


def test_a_failing_alert_no_longer_gets_the_auth_runbook() -> None:
    for title in ("payments check failing", "worker failing", "search failure", "checkout error"):
        ranked = suggest_for(BUILTIN, title=title, symptoms=[], component=None, severity="P1")
        assert ranked == [], title


def test_generic_words_never_match_on_their_own() -> None:
    generic = "failing failure failed error errors down check alert high slow the of P1 api"
    assert (
        rank(
            RUNBOOKS.runbooks(BUILTIN),
            title=generic,
            symptoms=[generic],
            component=None,
            severity="P1",
        )
        == []
    )


def test_the_reasons_say_what_matched() -> None:
    [first, *_] = suggest_for(
        BUILTIN,
        title="Too many connections",
        symptoms=["Queries timing out"],
        component="database",
        severity="P1",
    )
    assert first.runbook == "p1-db-connections"
    assert first.reasons == [
        "component database",
        "symptoms '\"Too many connections\" errors', 'Queries timing out'",
        "severity P1",
    ]


def test_a_title_match_quotes_the_runbooks_title() -> None:
    ranked = suggest_for(
        BUILTIN, title="rollback the deployment", symptoms=[], component=None, severity="P1"
    )
    reasons = {s.runbook: s.reasons for s in ranked}
    assert any(r.startswith("title '") for rs in reasons.values() for r in rs), reasons


def test_hostile_and_huge_titles_are_words() -> None:
    hostile = "[/x] \x1b[2J $(touch pwned); rm -rf / \x00 'quoted' " + "Aa" * 50_000
    assert (
        suggest_for(BUILTIN, title=hostile, symptoms=[hostile], component=hostile, severity="P1")
        == []
    )
