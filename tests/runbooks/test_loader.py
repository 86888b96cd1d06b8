"""Runbooks that do not validate are refused before anything runs, with their location."""

from __future__ import annotations

import textwrap

import pytest

from opsbook.registry import default_registry
from opsbook.runbooks.loader import BUILTIN_DIR, RunbookError, load_runbook, parse_runbook

REGISTRY = default_registry()


def problems(text: str) -> list[str]:
    with pytest.raises(RunbookError) as caught:
        parse_runbook(textwrap.dedent(text), file="book.yaml", registry=REGISTRY)
    return [str(i) for i in caught.value.issues]


def test_bad_yaml() -> None:
    assert problems("name: x\nsteps: [\n") == [
        "book.yaml:3:1: YAML syntax error: expected the node content, but found '<stream end>'"
        " (while parsing a flow node)"
    ]


def test_unknown_action_with_a_suggestion() -> None:
    text = """\
        name: x
        title: X
        steps:
          - id: one
            title: One
            uses: incident.notes
            with: {text: hi}
        """
    assert problems(text) == [
        "book.yaml:6:11: steps[0].uses: unknown action 'incident.notes'"
        " (did you mean 'incident.note'?)"
    ]


def test_unknown_step_field() -> None:
    text = """\
        name: x
        title: X
        steps:
          - id: one
            title: One
            manual: do it
            retries: 3
        """
    assert problems(text) == [
        "book.yaml:7:5: steps[0].retries: unknown key 'retries' (did you mean 'writes'?)"
    ]


def test_when_that_does_not_parse() -> None:
    text = """\
        name: x
        title: X
        steps:
          - id: one
            title: One
            manual: do it
            when: params.a >
        """
    [issue] = problems(text)
    assert issue.startswith("book.yaml:7:11: steps[0].when: 'params.a >' does not parse")


def test_reference_to_a_step_that_does_not_exist_or_comes_later() -> None:
    text = """\
        name: x
        title: X
        steps:
          - id: first
            title: First
            manual: "{{ steps.second.output }}"
          - id: second
            title: Second
            sql: select 1
            when: steps.frist.status == 'succeeded'
        """
    assert problems(text) == [
        "book.yaml:6:13: steps[0].manual: refers to step 'second', which does not come before"
        " this one",
        "book.yaml:10:11: steps[1].when: refers to step 'frist', which does not come before"
        " this one; earlier steps: first",
    ]


def test_unknown_parameter_and_action_inputs() -> None:
    text = """\
        name: x
        title: X
        parameters:
          idle_minutes: {type: int, default: 10}
        steps:
          - id: one
            title: One
            uses: incident.update
            with: {mesage: "{{ params.idle_minuts }}"}
        """
    assert problems(text) == [
        "book.yaml:9:12: steps[0].with.mesage: incident.update takes no input 'mesage'"
        " (did you mean 'message'?)",
        "book.yaml:9:20: steps[0].with.mesage: refers to parameter 'idle_minuts', which the"
        " runbook does not declare (did you mean 'idle_minutes'?)",
    ]


def test_a_step_does_exactly_one_thing() -> None:
    text = """\
        name: x
        title: X
        steps:
          - id: one
            title: One
            sql: select 1
            run: echo hi
        """
    assert problems(text) == [
        "book.yaml:4:5: steps[0]: a step does exactly one of uses, sql, http, run, manual,"
        " notify (this one has: sql, run)"
    ]


def test_duplicate_step_ids_and_missing_inputs() -> None:
    text = """\
        name: x
        title: X
        steps:
          - {id: one, title: One, manual: a}
          - {id: one, title: Again, uses: incident.note}
        """
    assert problems(text) == [
        "book.yaml:5:5: steps[1].with: incident.note needs 'text'",
        "book.yaml:5:10: steps[1].id: duplicate step id 'one' (first on line 4)",
    ]


@pytest.mark.parametrize("path", sorted(BUILTIN_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_builtin_runbook_validates(path) -> None:
    runbook = load_runbook(path, registry=REGISTRY)
    assert runbook.name == path.stem
    assert runbook.steps


def test_the_seed_procedures_are_all_built_in() -> None:
    assert {p.stem for p in BUILTIN_DIR.glob("*.yaml")} == {
        "p0-outage",
        "p1-auth-failures",
        "p1-db-connections",
        "deploy",
        "deploy-rollback",
        "db-migrate",
        "weekly",
        "monthly",
        "quarterly",
        "archive-old-attempts",
        "dr-drill",
        "high-memory",
        "slow-dashboard",
        "voice-calls-failing",
        "emails-not-sending",
        "post-incident",
        "data-breach",
        "payments-down",
    }
