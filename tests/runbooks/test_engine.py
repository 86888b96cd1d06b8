"""Real runbooks end to end against the sandbox and its real database."""

from __future__ import annotations

import json

import psycopg
import pytest

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import service as incidents
from opsbook.registry import default_registry
from opsbook.runbooks.engine import Engine, Interaction
from opsbook.runbooks.model import Runbook
from opsbook.store import Store
from tests.runbooks.conftest import Ops

CHECKS = """\
    name: checks
    title: Health and database checks
    parameters:
      limit: {type: int, default: 100}
    steps:
      - id: health
        title: Health endpoint
        http: {url: "{{ app.url }}/api/health"}
        expect: output.json.status == "ok"
      - id: active
        title: Active connections
        sql: select count(*) as active from pg_stat_activity where state = 'active'
        expect: output.rows[0].active <= params.limit
      - id: leak
        title: Only when leaking
        when: steps.active.output.rows[0].active > params.limit
        manual: kill idle connections
      - id: echo
        title: Say the count
        run: echo "active={{ steps.active.output.rows[0].active }}"
    """


def test_a_passing_run_records_every_step(ops: Ops) -> None:
    ops.book("checks", CHECKS)
    run = ops.json("runbook", "run", "checks")
    assert run["status"] == "succeeded"
    assert [(s["id"], s["status"]) for s in run["steps"]] == [
        ("health", "succeeded"),
        ("active", "succeeded"),
        ("leak", "skipped"),
        ("echo", "succeeded"),
    ]
    assert run["steps"][0]["output"]["status"] == 200
    assert run["steps"][3]["output"]["stdout"].startswith("active=")
    assert run["steps"][2]["error"] == (
        "when steps.active.output.rows[0].active > params.limit is false"
    )
    assert run["actor"] == "alice"
    listed = ops.json("runbook", "runs")
    assert [(r["id"], r["status"]) for r in listed] == [(run["id"], "succeeded")]


def test_a_failing_expect_shows_the_values_and_stops(ops: Ops) -> None:
    ops.book("checks", CHECKS)
    run = ops.json("runbook", "run", "checks", "--param", "limit=-1", code=1)
    assert run["status"] == "failed"
    active = run["steps"][1]
    assert active["status"] == "failed"
    assert active["error"].startswith("expected output.rows[0].active <= params.limit, but ")
    assert "params.limit = -1" in active["error"]
    assert [s["status"] for s in run["steps"][2:]] == ["pending", "pending"]


def test_on_fail_continue_keeps_going(ops: Ops) -> None:
    ops.book(
        "soft",
        """\
        name: soft
        title: Soft
        steps:
          - id: probe
            title: Probe a webhook
            http: {method: POST, url: "{{ app.url }}/api/webhooks/nowhere", json: {type: test}}
            expect: output.status in [200, 401]
            on_fail: continue
          - id: after
            title: Afterwards
            run: "true"
        """,
    )
    run = ops.json("runbook", "run", "soft", code=1)
    assert [s["status"] for s in run["steps"]] == ["failed", "succeeded"]
    assert "output.status = 404" in run["steps"][0]["error"]


WRITE = """\
    name: cleanup
    title: Cleanup
    steps:
      - id: count
        title: Count feedback
        sql: select count(*) as n from attempt_feedback
      - id: insert
        title: Add a row
        sql: >-
          insert into attempt_feedback (attempt_id, body)
          select min(id), 'from a runbook' from scenario_attempts
        writes: true
        confirm: true
    """


def _feedback_rows(ops: Ops) -> int:
    with psycopg.connect(ops.sandbox.database_url) as conn:
        row = conn.execute("select count(*) from attempt_feedback").fetchone()
    assert row is not None
    return int(row[0])


def test_confirm_is_refused_without_yes_then_resumed_with_it(ops: Ops) -> None:
    ops.book("cleanup", WRITE)
    run = ops.json("runbook", "run", "cleanup", code=1)
    assert run["status"] == "refused"
    assert run["steps"][1]["status"] == "refused"
    assert run["steps"][1]["error"] == "needs confirmation: run again with --yes"
    assert _feedback_rows(ops) == 0
    resumed = ops.json("runbook", "resume", str(run["id"]), "--yes")
    assert resumed["status"] == "succeeded"
    assert resumed["steps"][0]["attempts"] == 1  # not repeated
    assert _feedback_rows(ops) == 1
    audit = ops.json("audit", "list")
    assert audit[0]["action"] == "runbook.sql.query"
    assert audit[0]["target"] == f"run {run['id']} step insert"


def test_a_read_only_step_cannot_write(ops: Ops) -> None:
    ops.book(
        "sneaky",
        """\
        name: sneaky
        title: Sneaky
        steps:
          - id: write
            title: Write without saying so
            sql: delete from attempt_feedback
        """,
    )
    run = ops.json("runbook", "run", "sneaky", code=1)
    assert "read-only transaction" in run["steps"][0]["error"]


def test_dry_run_changes_nothing(ops: Ops) -> None:
    ops.book("cleanup", WRITE)
    plan = ops.json("runbook", "run", "cleanup", "--dry-run")
    assert plan["dry_run"] is True
    assert plan["steps"][1]["confirm"] is True
    assert plan["steps"][1]["does"].startswith("SQL (WRITES):\ninsert into attempt_feedback")
    assert _feedback_rows(ops) == 0
    assert ops.json("runbook", "runs") == []
    text = ops.run("runbook", "run", "cleanup", "--dry-run", "--yes").output
    assert "nothing will be changed" in text and "would: SQL (WRITES):" in text
    assert _feedback_rows(ops) == 0


def test_manual_steps_wait_and_are_listed_then_marked_done(ops: Ops) -> None:
    ops.book(
        "hands",
        """\
        name: hands
        title: Hands on
        steps:
          - id: look
            title: Look at the dashboard
            manual: "Open {{ app.url }}/dashboard"
          - id: health
            title: Health
            http: {url: "{{ app.url }}/api/health"}
        """,
    )
    result = ops.run("runbook", "run", "hands")
    assert result.exit_code == 0, result.output
    assert "still to do by hand" in result.output
    assert f"look: Open {ops.sandbox.url}/dashboard" in result.output
    run = ops.json("runbook", "runs")[0]
    assert run["status"] == "waiting"
    done = ops.json("runbook", "resume", str(run["id"]), "--done", "look")
    assert [(s["id"], s["status"]) for s in done["steps"]] == [
        ("look", "confirmed"),  # a person's word: "confirmed by alice", never "succeeded"
        ("health", "succeeded"),
    ]
    assert done["steps"][0]["output"] == {"confirmed_by": "alice"}
    assert done["steps"][1]["attempts"] == 1


def test_a_run_for_an_incident_writes_each_step_to_its_timeline(ops: Ops) -> None:
    ops.book("checks", CHECKS)
    opened = ops.json("incident", "open", "--sev", "P1", "--title", "DB errors")
    ops.json("runbook", "run", "checks", "--incident", str(opened["id"]))
    timeline = ops.json("incident", "show", str(opened["id"]))["timeline"]
    texts = [e["text"] for e in timeline if e["kind"].startswith("runbook.")]
    assert texts == [
        "started runbook checks: Health and database checks",
        "[checks] health succeeded",
        "[checks] active succeeded",
        "[checks] leak skipped: when steps.active.output.rows[0].active > params.limit is false",
        "[checks] echo succeeded",
        "runbook checks: succeeded",
    ]


def test_incident_actions_from_a_runbook(ops: Ops) -> None:
    opened = ops.json("incident", "open", "--sev", "P0", "--title", "Site down")
    unasked = ops.run("runbook", "run", "p0-outage", "--incident", str(opened["id"]), "--json")
    assert json.loads(unasked.stdout)["status"] == "refused"  # the public update asks first
    assert not [e for e in ops.json("incident", "show", "1")["timeline"] if e["public"]]
    run = ops.json("runbook", "run", "p0-outage", "--incident", str(opened["id"]), "--yes", code=1)
    # Health answers 200 (the symptom is absent): a failed check is not hidden by the
    # steps left to a person.
    assert run["status"] == "failed"
    shown = ops.json("incident", "show", str(opened["id"]))
    assert shown["status"] == "investigating"
    public = [e["text"] for e in shown["timeline"] if e["public"]]
    assert public == [
        "We're aware of an issue preventing access to the platform. Investigating now."
    ]


def test_secrets_are_masked_in_records(ops: Ops, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_live_abcdef123456")
    ops.book(
        "leaky",
        """\
        name: leaky
        title: Leaky
        steps:
          - id: echo
            title: Print the environment
            run: echo "key=$STRIPE_SECRET_KEY"
        """,
    )
    run = ops.json("runbook", "run", "leaky")
    assert run["steps"][0]["output"]["stdout"] == "key=***\n"


def test_shell_values_are_quoted(ops: Ops, tmp_path) -> None:
    target = tmp_path / "pwned"
    ops.book(
        "quoted",
        """\
        name: quoted
        title: Quoted
        parameters:
          name: {type: str, default: x}
        steps:
          - id: greet
            title: Greet
            run: echo hello {{ params.name }}
        """,
    )
    run = ops.json("runbook", "run", "quoted", "--param", f"name=x; touch {target}")
    assert run["steps"][0]["output"]["stdout"] == f"hello x; touch {target}\n"
    assert not target.exists()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["runbook", "run", "checks", "--param", "limit=many"],
            "--param limit: 'many' is not a int",
        ),
        (["runbook", "run", "checks", "--param", "limt=5"], "checks has no parameter 'limt'"),
        (["runbook", "run", "checks", "--param", "limit"], "write it as name=value"),
        (["runbook", "run", "chekcs"], "no runbook 'chekcs' (did you mean 'checks'?)"),
        (["runbook", "run", "checks", "--incident", "404"], "no incident #404"),
        (["runbook", "resume", "99"], "no run 99"),
    ],
)
def test_bad_input_exits_2_and_runs_nothing(ops: Ops, args: list[str], error: str) -> None:
    ops.book("checks", CHECKS)
    result = ops.run(*args)
    assert result.exit_code == 2, result.output
    assert error in result.output
    assert ops.json("runbook", "runs") == []


def test_an_invalid_runbook_is_refused_with_its_location(ops: Ops) -> None:
    ops.book(
        "broken",
        """\
        name: broken
        title: Broken
        steps:
          - id: one
            title: One
            uses: db.kil
        """,
    )
    result = ops.run("runbook", "run", "broken")
    assert result.exit_code == 2
    assert "broken.yaml:6:11: steps[0].uses: unknown action 'db.kil'" in result.output
    assert "does not validate; nothing was run" in result.output


def test_a_notice_to_a_channel_not_configured_is_refused_before_any_step(ops: Ops) -> None:
    ops.book(
        "announce",
        """\
        name: announce
        title: Announce
        parameters:
          commit: {type: str, required: true}
        steps:
          - id: first
            title: Before
            manual: "Look first."
          - id: announce
            title: Tell #deploys
            notify: {channel: slack-deploys, message: "Deploying {{ params.commit }}"}
        """,
    )
    for dry in ([], ["--dry-run"]):
        result = ops.run("runbook", "run", "announce", "--param", "commit=4f2c9e1", *dry)
        assert result.exit_code == 2, result.output
        assert "step announce: no channel named or showing 'slack-deploys'" in result.output
    assert ops.json("runbook", "runs") == []


def test_the_seed_db_runbook_ends_leaked_connections_through_db_actions(
    ops: Ops, app_role: str
) -> None:
    url = ops.sandbox.database_url.replace("postgres@", f"{app_role}@")
    leaked = [psycopg.connect(url, autocommit=True, application_name="web") for _ in range(4)]
    try:
        for conn in leaked:
            conn.execute("select 1")
        opened = ops.json("incident", "open", "--sev", "P1", "--title", "Too many connections")
        refused = ops.json(
            "runbook",
            "run",
            "p1-db-connections",
            "--incident",
            str(opened["id"]),
            "--param",
            "idle_minutes=0",
            code=1,
        )
        assert refused["steps"][1]["status"] == "refused"
        assert all(not c.closed and c.execute("select 1").fetchone() for c in leaked)
        run = ops.json("runbook", "resume", str(refused["id"]), "--yes")
        kill = run["steps"][1]
        assert (kill["id"], kill["status"], kill["output"]["count"]) == (
            "kill_idle",
            "succeeded",
            4,
        )
        assert sorted(kill["output"]["ended"]) == sorted(c.info.backend_pid for c in leaked)
        assert run["steps"][3]["status"] == "skipped"  # no pid given: kill_query does not run
        audit = ops.json("audit", "list", "--limit", "100")
        assert sum(1 for a in audit if a["action"] == "db.terminate" and a["outcome"] == "ok") == 4
    finally:
        for conn in leaked:
            conn.close()


def test_archive_runbook_moves_old_attempts(ops: Ops) -> None:
    refused = ops.json("runbook", "run", "archive-old-attempts", code=1)
    assert refused["steps"][1]["status"] == "refused"  # moving data needs --yes
    failed = ops.json("runbook", "resume", str(refused["id"]), "--yes", code=1)
    assert "referenced by public.attempt_feedback" in failed["steps"][1]["error"]
    run = ops.json(
        "runbook",
        "run",
        "archive-old-attempts",
        "--yes",
        "--param",
        "with_referencing=true",
        "--param",
        "batch=500",
    )
    archived = run["steps"][1]["output"]
    assert run["status"] == "succeeded" and archived["count"] > 0
    assert run["steps"][2]["status"] == "succeeded"


def test_slow_dashboard_measures_then_refreshes_views(ops: Ops) -> None:
    run = ops.json("runbook", "run", "slow-dashboard")
    measure, refresh = run["steps"][0], run["steps"][1]
    assert measure["status"] == "succeeded"
    assert measure["output"]["pages"][0]["status"] == 200
    assert refresh["output"]["function"] == "refresh_reporting_views"
    audit = ops.json("audit", "list")
    assert audit[0]["action"] == "db.view.refresh" and audit[0]["outcome"] == "ok"


def test_db_migrate_runbook_applies_pending_files(ops: Ops) -> None:
    folder = ops.root / "supabase" / "migrations"
    folder.mkdir(parents=True)
    (folder / "20260101000000_add_notes.sql").write_text("create table notes (id int);\n")
    paused = ops.json("runbook", "run", "db-migrate", "--yes", "--param", f"dir={folder}")
    refused = ops.json("runbook", "resume", str(paused["id"]), "--done", "local", "--yes", code=1)
    push = next(s for s in refused["steps"] if s["id"] == "push")
    assert "no verified backup in the last 24 h" in push["error"]
    paused = ops.json(
        "runbook",
        "run",
        "db-migrate",
        "--yes",
        "--param",
        f"dir={folder}",
        "--param",
        "backup_taken=true",
    )
    run = ops.json("runbook", "resume", str(paused["id"]), "--done", "local", "--yes")
    push = next(s for s in run["steps"] if s["id"] == "push")
    assert push["output"]["applied"] == ["20260101000000_add_notes"]
    verify = next(s for s in run["steps"] if s["id"] == "verify")
    assert verify["output"]["rows"][0]["version"] == "20260101000000"


def test_resuming_a_run_whose_step_failed_keeps_it_failed(ops: Ops) -> None:
    ops.book(
        "flip",
        """\
        name: flip
        title: Flip
        steps:
          - id: a
            title: Fails
            run: "false"
            on_fail: continue
          - id: b
            title: Passes
            run: "true"
        """,
    )
    run = ops.json("runbook", "run", "flip", code=1)
    assert run["status"] == "failed"
    resumed = ops.run("runbook", "resume", str(run["id"]), "--json")
    assert resumed.exit_code == 1, resumed.output
    assert json.loads(resumed.stdout)["status"] == "failed"


# --- a runbook run late never moves an incident back (issue #17, item 3) -----------------------


def test_p0_outage_on_an_incident_in_monitoring_moves_nothing_back_and_says_why(
    ops: Ops,
) -> None:
    """The fix is in monitoring and health answers 200: the runbook neither acknowledges
    again nor posts "We're aware of an issue..." nor moves it to investigating; the symptom
    check fails saying the symptom is absent."""
    ops.json("incident", "open", "--sev", "P0", "--title", "Site down [/x]\x1b[31m")
    ops.json("incident", "ack", "1")
    ops.json("incident", "update", "1", "--status", "monitoring", "--message", "fix deployed")
    result = ops.run("runbook", "run", "p0-outage", "--incident", "1", "--json")
    steps = {s["id"]: s for s in json.loads(result.stdout)["steps"]}
    assert (steps["acknowledge"]["status"], steps["acknowledge"]["error"]) == (
        "skipped",
        "incident 1 is already monitoring",
    )
    assert steps["health"]["status"] == "failed"
    assert steps["health"]["error"].startswith("symptom not present: health answers 200")
    assert (steps["status_page"]["status"], steps["status_page"]["error"]) == (
        "skipped",
        "incident 1 is already monitoring",
    )
    shown = ops.json("incident", "show", "1")
    assert shown["status"] == "monitoring"
    assert not any(e["public"] for e in shown["timeline"] if e["kind"] != "opened")
    assert not any("We're aware" in e["text"] for e in shown["timeline"])
    said = " ".join(ops.run("incident", "show", "1").output.split())
    assert "[p0-outage] status_page skipped: incident 1 is already monitoring" in said
    assert "skipped: skipped" not in said


def test_a_step_that_moves_the_incident_asks_first(ops: Ops) -> None:
    """On an incident not yet that far along, the public update is asked for, never
    posted unasked; with --yes it is posted."""
    (ops.books / "say.yaml").write_text(
        "name: say\ntitle: Say\nsteps:\n"
        "  - id: public\n    title: Tell customers\n    uses: incident.update\n"
        '    with: {status: investigating, public: true, message: "We\'re aware"}\n'
    )
    ops.json("incident", "open", "--sev", "P1", "--title", "Login fails")
    refused = json.loads(ops.run("runbook", "run", "say", "--incident", "1", "--json").stdout)
    assert [s["status"] for s in refused["steps"]] == ["refused"]
    assert ops.json("incident", "show", "1")["status"] == "open"
    done = ops.json("runbook", "run", "say", "--incident", "1", "--yes")
    assert [s["status"] for s in done["steps"]] == ["succeeded"]
    assert ops.json("incident", "show", "1")["status"] == "investigating"


def test_a_manual_step_is_confirmed_or_skipped_by_a_person_never_succeeded(
    store: Store, clock: FrozenClock
) -> None:
    """y, s (not applicable) and n at the prompt: the record and the timeline say who
    confirmed or skipped what; n leaves the step waiting."""
    book = Runbook.model_validate(
        {
            "name": "hands",
            "title": "Hands",
            "steps": [
                {"id": "status", "title": "Check Vercel status", "manual": "look"},
                {"id": "rollback", "title": "If deployment caused issue, roll back", "manual": "x"},
                {"id": "tell", "title": "Tell the team", "manual": "post in #incidents"},
            ],
        }
    )
    with store.session() as session:
        incident = incidents.open_incident(
            session, title="Site down", severity="P0", actor="alice", clock=clock
        ).id
    engine = Engine(store, Config(), default_registry(), clock, actor="bob [/x]")
    answers = iter(["y", "s", "n"])
    run_id = engine.start(book, source="hands.yaml", params={}, incident_id=incident)
    interaction = Interaction(interactive=True, choose=lambda _q: next(answers))
    assert engine.execute(run_id, book, interaction, {}) == "waiting"
    with store.reading() as session:
        texts = [e.text for e in incidents.timeline(session, incident_id=incident)]
    assert "[hands] status confirmed by bob [/x]" in texts
    assert "[hands] rollback skipped by bob [/x]" in texts
    assert any(t.startswith("[hands] tell waiting") for t in texts)
    assert not any("succeeded" in t for t in texts if t.startswith("[hands]"))
