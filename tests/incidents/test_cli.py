"""`opsbook incident ...` end to end, with a clock the test moves."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.context import AppContext
from tests.conftest import T0


class Terminal:
    def __init__(self, config: Path, clock: FrozenClock) -> None:
        self.config, self.clock, self.runner = config, clock, CliRunner()

    def run(self, *args: str) -> Result:
        return self.runner.invoke(
            app, ["--config", str(self.config), *args], obj=AppContext(clock=self.clock)
        )

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def at(self, hhmm: str) -> None:
        hour, minute = map(int, hhmm.split(":"))
        self.clock.set(T0.replace(hour=hour, minute=minute))


@pytest.fixture
def term(
    tmp_path: Path, store_url: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Terminal:
    monkeypatch.setenv("OPSBOOK_ACTOR", "alice")
    config = tmp_path / "opsbook.yaml"
    config.write_text(f"store:\n  url: {store_url}\n")
    return Terminal(config, clock)


EXPECTED_POSTMORTEM = """\
# Post-mortem: Complete service outage

**Incident**: Complete service outage (#1)
**Date/Time**: 2026-03-02 09:30 UTC
**Duration**: 50m
**Severity**: P0 (Critical)
**Impact**: All users could not reach the dashboard for 50 minutes

**Timeline**:
- 09:30 UTC - Incident detected
- 09:33 UTC - On-call paged (acknowledged; no page recorded)
- 09:52 UTC - Root cause identified
- 10:05 UTC - Fix deployed
- 10:20 UTC - Incident resolved

**Root Cause**:
Deployment 4f2c9e1 opened a database connection per request and exhausted the pool

**Resolution**:
Promoted the previous deployment; killed idle connections

**Action Items**:
- [ ] Update runbook
- [ ] Add a connection-pool smoke test (owner: bob, due 2026-03-09)
"""


def test_scripted_p0_to_postmortem(term: Terminal, tmp_path: Path) -> None:
    term.at("09:30")
    opened = term.json(
        "incident",
        "open",
        "--sev",
        "P0",
        "--title",
        "Complete service outage",
        "--component",
        "app",
        "--symptom",
        "Health check endpoint returning 500",
    )
    assert opened["id"] == 1 and opened["status"] == "open"
    term.at("09:33")
    term.json("incident", "ack", "1", "--message", "Site down - investigating")
    term.at("09:40")
    term.json(
        "incident",
        "update",
        "1",
        "--public",
        "--message",
        "We're aware of an issue preventing access to the platform. Investigating now.",
    )
    term.at("09:52")
    term.json(
        "incident",
        "update",
        "1",
        "--status",
        "identified",
        "--public",
        "--message",
        "A deployment broke database connections",
    )
    term.at("10:05")
    term.json(
        "incident",
        "update",
        "1",
        "--status",
        "monitoring",
        "--public",
        "--message",
        "Rolled back; monitoring",
    )
    term.at("10:14")
    early = term.run("incident", "resolve", "1")
    assert early.exit_code == 2
    assert "monitoring for 9 min of the 15 min" in early.output
    term.at("10:20")
    resolved = term.json("incident", "resolve", "1", "--message", "Resolved")
    assert resolved["status"] == "resolved" and resolved["postmortem"] == "due"
    term.json(
        "incident",
        "actions",
        "add",
        "1",
        "Add a connection-pool smoke test",
        "--owner",
        "bob",
        "--due",
        "7d",
    )
    out = tmp_path / "postmortem.md"
    written = term.json(
        "incident",
        "postmortem",
        "1",
        "--out",
        str(out),
        "--impact",
        "All users could not reach the dashboard for 50 minutes",
        "--root-cause",
        "Deployment 4f2c9e1 opened a database connection per request and exhausted the pool",
        "--resolution",
        "Promoted the previous deployment; killed idle connections",
    )
    assert written["postmortem"] == "drafted"
    document = out.read_text()
    head, _, full = document.partition("\n---\n")
    assert head == EXPECTED_POSTMORTEM
    assert "09:40 UTC alice update (public): We're aware of an issue" in full
    published = term.json("incident", "postmortem", "1", "--publish")
    assert published["postmortem"] == "published"
    shown = term.json("incident", "show", "1")
    # Mitigated at 10:05, 35 minutes in: the escalation clock shows it was late.
    assert {c["name"]: c["state"] for c in shown["clocks"]} == {
        "ack": "met",
        "escalate": "late",
        "postmortem": "met",
    }


def test_list_highlights_overdue_and_filters(term: Terminal) -> None:
    term.at("09:00")
    term.json("incident", "open", "--sev", "P1", "--title", "Auth failures")
    term.json("incident", "open", "--sev", "P3", "--title", "Typo in docs")
    term.at("09:10")
    listed = term.json("incident", "list", "--open", "--sev", "P1")
    assert [i["title"] for i in listed] == ["Auth failures"]
    assert listed[0]["next_due"]["name"] == "ack"
    assert listed[0]["next_due"]["state"] == "overdue"
    table = term.run("incident", "list")
    assert "Acknowledge" in table.output and "OVERDUE 5m ago" in table.output


def test_show_names_the_next_thing_to_do(term: Terminal) -> None:
    term.at("09:00")
    term.json("incident", "open", "--sev", "P0", "--title", "Site down")
    term.at("09:02")
    shown = term.run("incident", "show", "#1")
    assert shown.exit_code == 0
    assert "next: acknowledge it: opsbook incident ack 1 (due in 3m)" in shown.output
    assert "open -> " not in shown.output


def test_severities_table(term: Terminal) -> None:
    rows = term.json("incident", "severities")
    assert [(r["severity"], r["label"], r["action"], r["response_sla"]) for r in rows] == [
        ("P0", "Critical", "page", 0),
        ("P1", "High", "alert", 1800),
        ("P2", "Medium", "ticket", 14400),
        ("P3", "Low", "backlog", 86400),
    ]
    table = term.run("incident", "severities").output
    assert "Page immediately" in table and "< 30 minutes" in table and "Immediate" in table


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["incident", "open", "--sev", "P5", "--title", "x"], "unknown severity 'P5'"),
        (["incident", "open", "--sev", "P1", "--title", " "], "the title must not be empty"),
        (["incident", "show", "99"], "no incident #99: opsbook incident list"),
        (["incident", "show", "abc"], "'abc' is not an incident id"),
        (["incident", "update", "1", "--status", "fixed"], "'fixed' is not a status"),
        (["incident", "update", "1", "--status", "open"], "cannot move to open"),
        (["incident", "update", "1", "--status", "resolved"], "to resolve, use"),
        (["incident", "update", "1"], "give --status, --message, or both"),
        (["incident", "severity", "1", "P9", "--reason", "x"], "unknown severity 'P9'"),
        (["incident", "note", "1", "  "], "the note must not be empty"),
        (["incident", "actions", "add", "1", "x", "--due", "soon"], "--due 'soon' is neither"),
        (["incident", "actions", "finish", "1", "1"], "No such command 'finish'"),
        (["incident", "stats", "--since", "forever"], "--since: 'forever' is not a duration"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(term: Terminal, args: list[str], error: str) -> None:
    term.json("incident", "open", "--sev", "P1", "--title", "Database connection errors")
    before = term.json("incident", "show", "1")
    result = term.run(*args)
    assert result.exit_code == 2, result.output
    assert error in result.output
    assert term.json("incident", "show", "1") == before


def test_actions_across_incidents(term: Terminal) -> None:
    term.json("incident", "open", "--sev", "P1", "--title", "A")
    term.json("incident", "open", "--sev", "P2", "--title", "B")
    [added] = term.json(
        "incident",
        "actions",
        "add",
        "2",
        "Add statement_timeout",
        "--owner",
        "carol",
        "--due",
        "2026-03-20",
    )
    assert (added["owner"], added["due"]) == ("carol", "2026-03-20")
    term.json("incident", "actions", "done", "1", "1")
    pending = term.json("incident", "actions", "--open")
    assert [(i["incident_id"], i["title"]) for i in pending] == [
        (2, "Update runbook"),
        (2, "Add statement_timeout"),
    ]


def test_stats_mtta_mttr_and_overdue_postmortems(term: Terminal) -> None:
    for title, ack_after, fix_after in (("one", 4, 30), ("two", 6, 50)):
        term.at("08:00")
        opened = term.json("incident", "open", "--sev", "P1", "--title", title)
        term.clock.advance(dt.timedelta(minutes=ack_after))
        term.json("incident", "ack", str(opened["id"]))
        term.at("08:00")
        term.clock.advance(dt.timedelta(minutes=fix_after - 15))
        term.json(
            "incident", "update", str(opened["id"]), "--status", "monitoring", "--message", "fixed"
        )
        term.clock.advance(dt.timedelta(minutes=15))
        term.json("incident", "resolve", str(opened["id"]))
    term.json("incident", "open", "--sev", "P2", "--title", "still open")
    term.clock.advance(dt.timedelta(hours=30))
    report = term.json("incident", "stats", "--since", "7d")
    by = {s["severity"]: s for s in report["by_severity"]}
    assert report["incidents"] == 3
    assert (by["P1"]["mtta_seconds"], by["P1"]["mttr_seconds"]) == (300.0, 2400.0)
    assert (by["P2"]["incidents"], by["P2"]["open"], by["P2"]["mttr_seconds"]) == (1, 1, None)
    assert report["overdue_postmortems"] == [1, 2]
    text = term.run("incident", "stats").output
    assert "5.0 min" in text and "40.0 min" in text and "#1, #2" in text


def test_a_postmortem_that_cannot_be_written_records_nothing(
    term: Terminal, tmp_path: Path
) -> None:
    term.json("incident", "open", "--sev", "P2", "--title", "Slow exports")
    term.json("incident", "update", "1", "--status", "monitoring", "--message", "index added")
    term.clock.advance(dt.timedelta(minutes=15))
    term.json("incident", "resolve", "1")
    nowhere = tmp_path / "missing" / "pm.md"
    result = term.run(
        "incident", "postmortem", "1", "--root-cause", "no index", "--out", str(nowhere)
    )
    assert result.exit_code == 2 and "cannot write" in result.output
    shown = term.json("incident", "show", "1")
    assert (shown["root_cause"], shown["postmortem"]) == (None, "due")
