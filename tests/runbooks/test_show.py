"""Issue 18, "done when": `opsbook runbook show NAME` reads like the seed's section with
opsbook's part marked. Every step of every built-in is marked auto (opsbook does it, the
action named), asks (it does it once approved), you (a reminder) or pauses (the run waits
for the person), at 80 columns; a user runbook's hostile text is shown, never obeyed; and
`--json` gives each step's kind, mark and what it runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from opsbook.cli import app
from opsbook.console import console
from opsbook.registry import default_registry
from opsbook.runbooks.loader import BUILTIN_DIR, load_runbook
from opsbook.runbooks.model import Step

BUILTINS = sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))
STEP_LINE = re.compile(r"^ ?(\d+)\. (auto|asks|you|pauses) +(.+)$")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("show")
    (root / "books").mkdir()
    (root / "books" / "hostile.yaml").write_text(HOSTILE_YAML)
    (root / "books" / "later.yaml").write_text(LATER_YAML)
    path = root / "opsbook.yaml"
    path.write_text(
        f"store: {{url: 'sqlite:///{root / 'opsbook.db'}'}}\n"
        "app: {url: 'http://127.0.0.1:9'}\n"
        "runbooks: {paths: [books]}\n"
    )
    return path


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "wrap", True)  # as at a terminal 80 columns wide
    monkeypatch.setattr(console, "_width", 80)  # not `width`: undone, it would pin 80


def show(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(app, ["--config", str(config), "runbook", "show", *args])
    assert result.exit_code == 0, result.output
    return result


def expected_mark(step: Step) -> set[str]:
    if step.manual is not None:
        return {"pauses"} if step.blocking else {"you"}
    return {"auto", "asks"}  # asks: a destructive action, or one that speaks publicly


@pytest.mark.parametrize("name", BUILTINS)
def test_every_step_of_a_builtin_is_marked_at_80_columns(
    config: Path, terminal: None, name: str
) -> None:
    runbook = load_runbook(BUILTIN_DIR / f"{name}.yaml", registry=default_registry())
    output = show(config, name).output
    assert max(len(line) for line in output.splitlines()) <= 80
    lines = output.splitlines()
    marked = [(i, STEP_LINE.match(line)) for i, line in enumerate(lines)]
    found = [(i, m) for i, m in marked if m]
    assert [int(m.group(1)) for _, m in found] == list(range(1, len(runbook.steps) + 1))
    ends = [i for i, _ in found[1:]] + [len(lines)]
    for (i, match), end, step in zip(found, ends, runbook.steps, strict=True):
        assert match.group(2) in expected_mark(step), (step.id, match.group(0))
        assert match.group(3).startswith(step.title[:20]), (step.id, match.group(3))
        if step.uses is not None:  # the action it runs, by the name a person looks up
            block = [line.strip() for line in lines[i + 1 : end]]
            assert any(line.startswith(step.uses) for line in block), block


def test_the_marks_follow_what_the_run_does(config: Path) -> None:
    data = json.loads(show(config, "p0-outage", "--json").stdout)
    marks = {s["id"]: (s["kind"], s["mark"], s["runs"]) for s in data["steps"]}
    assert marks["open"] == ("uses", "auto", "incident.open")
    assert marks["health"] == ("http", "auto", "http")
    assert marks["rollback"] == ("uses", "asks", "deploy.rollback")  # destructive
    assert marks["status_page"] == ("uses", "asks", "incident.update")  # speaks publicly
    assert marks["cpu"] == ("manual", "you", "")  # a reminder: the run goes on
    assert marks["fixed"] == ("manual", "pauses", "")  # the run waits for the person
    monthly = json.loads(show(config, "monthly", "--json").stdout)
    assert {s["id"]: s["runs"] for s in monthly["steps"]}["outdated"] == "command"
    text = " ".join(show(config, "p0-outage").output.split())
    assert "pauses yours to do; the run waits until you confirm it (resume --done)" in text


HOSTILE = "[/x] [bold red]loud \x1b[31m $(reboot); rm -rf / 'q\" \\"

RLO = "\u202e"  # right-to-left override: text that reads in another order than stored
HOSTILE_YAML = f"""\
name: hostile
title: {json.dumps(HOSTILE)}
steps:
  - id: look
    title: {json.dumps(HOSTILE + " look")}
    manual: {json.dumps(HOSTILE + " by hand")}
  - id: probe
    title: {json.dumps(HOSTILE + " probe")}
    http: {{url: {json.dumps("http://127.0.0.1:9/" + HOSTILE)}}}
  - id: reminder
    title: {json.dumps(HOSTILE + " reminder")}
    blocking: false
    manual: {json.dumps(HOSTILE + RLO)}
"""


def test_a_user_runbooks_hostile_text_is_shown_escaped_and_marked(
    config: Path, terminal: None
) -> None:
    output = show(config, "hostile").output
    assert "\x1b" not in output and "\u202e" not in output
    flat = " ".join(output.split())
    assert "[/x] [bold red]loud \\x1b[31m $(reboot); rm -rf / 'q\" \\" in flat
    marks = [m.group(2) for m in map(STEP_LINE.match, output.splitlines()) if m]
    assert marks == ["pauses", "auto", "you"]
    assert "\\u202e" in output
    data: dict[str, Any] = json.loads(show(config, "hostile", "--json").stdout)
    assert data["steps"][0]["title"] == HOSTILE + " look"
    assert [s["mark"] for s in data["steps"]] == ["pauses", "auto", "you"]


# A status only an earlier step's output decides: the plan cannot read it yet.
LATER_YAML = """\
name: later
title: Status from a probe
steps:
  - id: probe
    title: Probe health
    http: {url: "http://127.0.0.1:9/api/health"}
  - id: move
    title: Move the incident
    uses: incident.update
    with: {status: "{{ steps.probe.output.status }}"}
  - id: note
    title: Note it
    uses: incident.note
    with: {text: "{{ steps.probe.output.status }}"}
"""


def test_a_step_whose_question_waits_on_an_earlier_output_is_shown_asking(
    config: Path,
) -> None:
    data = json.loads(show(config, "later", "--json").stdout)
    assert [s["mark"] for s in data["steps"]] == ["auto", "asks", "auto"]
