"""A careless or hostile expression in a runbook costs nothing at load and fails its own
step in one line; it never hangs list, show, the suggester or the alert path."""

from __future__ import annotations

import textwrap
from pathlib import Path

from opsbook.clock import FrozenClock
from opsbook.config import load_config
from opsbook.incidents import service as incidents
from opsbook.store import Store
from opsbook.watch import service
from opsbook.watch.result import CheckResult
from tests.runbooks.conftest import Ops

EVIL = """\
    name: evil
    title: Health check failing everywhere
    symptoms: [health check failing]
    components: [app]
    steps:
      - id: huge_power
        title: A huge power
        when: "10**(10**10) > 0"
        run: "true"
        on_fail: continue
      - id: huge_string
        title: A huge string
        run: "true"
        expect: "'a' * 10**9 == ''"
        on_fail: continue
      - id: escape
        title: Out of the sandbox
        when: "lipsum.__globals__"
        run: "true"
        on_fail: continue
      - id: fine
        title: Still runs
        run: echo fine
    """


def test_list_and_show_do_not_evaluate(ops: Ops) -> None:
    ops.book("evil", EVIL)
    [row] = [r for r in ops.json("runbook", "list") if r["name"] == "evil"]
    assert row["valid"] is True
    shown = ops.run("runbook", "show", "evil")
    assert shown.exit_code == 0, shown.output
    assert "only when: 10**(10**10) > 0" in shown.output


def test_each_bad_expression_fails_its_step_in_one_line(ops: Ops) -> None:
    ops.book("evil", EVIL)
    run = ops.json("runbook", "run", "evil", code=1)
    assert run["status"] == "failed"  # not "interrupted": the engine kept control
    steps = {s["id"]: s for s in run["steps"]}
    assert steps["huge_power"]["status"] == "failed"
    assert "is too large" in steps["huge_power"]["error"]
    assert steps["huge_string"]["status"] == "failed"
    assert "limit 1,000,000" in steps["huge_string"]["error"]
    assert steps["escape"]["status"] == "failed"
    assert "when could not be decided" in steps["escape"]["error"]
    assert steps["fine"]["output"]["stdout"] == "fine\n"
    for step in run["steps"]:
        assert "\n" not in (step["error"] or "")
        assert "Traceback" not in (step["error"] or "")


def test_a_loop_in_a_template_is_refused_at_load(ops: Ops) -> None:
    ops.book(
        "loops",
        """\
        name: loops
        title: Loops
        steps:
          - id: go
            title: Go
            run: "echo {% for i in range(99999) %}{% for j in range(9) %}x{% endfor %}{% endfor %}"
        """,
    )
    result = ops.run("runbook", "run", "loops")
    assert result.exit_code == 2
    assert f"{ops.books / 'loops.yaml'}:6:10: steps[0].run:" in result.output
    assert "a {% for %} statement is not allowed" in result.output


def test_the_alert_path_suggests_runbooks_without_evaluating_them(
    store: Store, clock: FrozenClock, tmp_path: Path
) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "evil.yaml").write_text(textwrap.dedent(EVIL))
    config_file = tmp_path / "opsbook.yaml"
    config_file.write_text("runbooks:\n  paths: [runbooks]\n")
    config = load_config(config_file)
    failing = CheckResult(
        "health",
        "http",
        "down",
        "health check failing: expected status 200, got 500",
        clock.now(),
        component="app",
        severity="P0",
    )
    [alert] = service.process_results(store, config, [failing], clock=clock)
    assert alert.state == "firing"
    with store.session() as session:
        [incident] = incidents.list_incidents(session)
        events = [e.text for e in incidents.timelines(session, incident_ids=[incident.id])[1]]
    # Loading `evil` to rank it evaluated none of its expressions, so the incident opened.
    assert "suggested runbook: opsbook runbook run p0-outage --incident 1" in events
