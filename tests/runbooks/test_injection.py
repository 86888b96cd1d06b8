"""Hostile runbook parameters stay data: never shell text, never SQL text, never a write
in a read-only step."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.runbooks.conftest import Ops

HOSTILE = [
    "a; touch {pwned}",
    "$(touch {pwned})",
    "`touch {pwned}`",
    "'; touch {pwned}; echo '",
    '"; touch {pwned}; echo "',
    "\\'; touch {pwned} #",
    "$'\\x27'; touch {pwned}",
    "${{IFS}}touch${{IFS}}{pwned}",
    "* ~ $HOME ?",
    "a\nb && touch {pwned}",
    "[/x] \x1b[2J",
    "-n",
]

# Where a placeholder can stand in a command, and what the command prints for value v.
PLACES = {
    "bare": ("printf '%s' {{ params.x }}", "{v}"),
    "single quotes": ("printf '%s' '{{ params.x }}'", "{v}"),
    "double quotes": ("printf '%s' \"{{ params.x }}\"", "{v}"),
    "joined to text": ("printf '%s' pre{{ params.x }}post", "pre{v}post"),
    "command substitution": ("printf '%s' \"$(printf '%s' {{ params.x }})\"", "{v}"),
    "backticks": ("printf '%s' \"`printf '%s' '{{ params.x }}'`\"", "{v}"),
    "twice": ("printf '%s|%s' {{ params.x }} \"{{ params.x }}\"", "{v}|{v}"),
    "after a comment holding a quote": (
        "# don't run this while a deploy runs\nprintf '%s' \"{{ params.x }}\"",
        "{v}",
    ),
    "case inside $( )": (
        "printf '%s' \"$(case a in a) printf '%s' {{ params.x }};; esac)\"",
        "{v}",
    ),
    "subshell inside $( )": ("printf '%s' \"$( (true); printf '%s' {{ params.x }} )\"", "{v}"),
    "after a here-document with quotes": (
        "cat >/dev/null <<EOF\nit's \"here\"\nEOF\nprintf '%s' {{ params.x }}",
        "{v}",
    ),
    "inside a here-document": ("cat <<EOF\n<{{ params.x }}>\nEOF", "<{v}>\n"),
}


def _book(ops: Ops, name: str, step: str) -> None:
    ops.book(
        name,
        f"""\
        name: {name}
        title: Hostile
        parameters:
          x: {{type: str, required: true}}
        steps:
        {step}
        """,
    )


@pytest.mark.parametrize("place", sorted(PLACES))
def test_no_value_becomes_shell_syntax_wherever_it_stands(
    ops: Ops, tmp_path: Path, place: str
) -> None:
    command, printed = PLACES[place]
    pwned = tmp_path / "pwned"
    ops.book(
        "hostile",
        "name: hostile\ntitle: Hostile\nparameters:\n  x: {type: str, required: true}\n"
        f"steps:\n  - id: say\n    title: Say it\n    run: {_yaml(command)}\n",
    )
    for raw in HOSTILE:
        value = raw.format(pwned=pwned)
        if place == "command substitution" or place == "backticks":
            value = value.rstrip("\n")  # $(...) drops trailing newlines by definition
        run = ops.json("runbook", "run", "hostile", "--param", f"x={value}")
        step = run["steps"][0]
        assert step["status"] == "succeeded", (value, step)
        assert step["output"]["stdout"] == printed.format(v=value), (place, value)
        assert not pwned.exists(), (place, value)


def test_uses_shell_run_passes_values_as_data(ops: Ops, tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    ops.book(
        "uses",
        """\
        name: uses
        title: Uses
        parameters:
          x: {type: str, required: true}
        steps:
          - id: say
            title: Say it
            uses: shell.run
            with: {command: "echo {{ params.x }}"}
        """,
    )
    run = ops.json("runbook", "run", "uses", "--param", f"x=a; touch {pwned}")
    assert run["steps"][0]["output"]["stdout"] == f"a; touch {pwned}\n"
    assert not pwned.exists()
    # The record says what ran and with which values; the dry run shows the value in place.
    assert run["steps"][0]["inputs"]["command"] == 'echo "${OPSBOOK_ARG_0}"'
    assert run["steps"][0]["inputs"]["env"] == {"OPSBOOK_ARG_0": f"a; touch {pwned}"}
    dry = ops.run("runbook", "run", "uses", "--param", f"x=a; touch {pwned}", "--dry-run")
    assert f'would: $ echo "a; touch {pwned}"' in dry.output


EVALUATED = {
    "$(( ))": "echo $(( {{ params.x }} + 1 ))",
    "(( ))": "(( {{ params.x }} > 5 )) && echo big",
    "[[ ]]": "if [[ {{ params.x }} -gt 5 ]]; then echo big; fi",
    "let": "let n={{ params.x }}",
    "$[ ]": "echo $[{{ params.x }} + 1]",
    "a quoted here-document": "bash <<'EOF'\necho {{ params.x }}\nEOF",
}


@pytest.mark.parametrize("place", sorted(EVALUATED))
def test_a_value_where_the_shell_evaluates_or_never_expands_it_is_refused(
    ops: Ops, tmp_path: Path, place: str
) -> None:
    # In bash, arithmetic evaluates `a[$(cmd)]` by running cmd; a quoted here-document
    # never expands the value. Either way the step fails before its command starts.
    pwned = tmp_path / "pwned"
    ops.book(
        "evaluated",
        "name: evaluated\ntitle: Evaluated\nparameters:\n  x: {type: str, required: true}\n"
        f"steps:\n  - id: go\n    title: Go\n    run: {_yaml(EVALUATED[place])}\n",
    )
    run = ops.json("runbook", "run", "evaluated", "--param", f"x=a[$(touch {pwned})]", code=1)
    assert run["steps"][0]["status"] == "failed"
    assert (
        "cannot go inside" in run["steps"][0]["error"]
        or "here-document" in (run["steps"][0]["error"])
    )
    assert "exit_code" not in run["steps"][0]["output"]
    assert not pwned.exists()


def test_a_nul_byte_in_a_value_fails_the_step_not_the_run(ops: Ops) -> None:
    _book(
        ops,
        "nul",
        """  - id: say
            title: Say
            run: echo {{ params.x }}
        """,
    )
    run = ops.json("runbook", "run", "nul", "--param", "x=a\x00b", code=1)
    assert run["status"] == "failed"
    assert "NUL byte" in run["steps"][0]["error"]


# --- SQL --------------------------------------------------------------------------------


def _table_exists(ops: Ops, name: str) -> bool:
    with psycopg.connect(ops.sandbox.database_url) as conn:
        row = conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()
    return bool(row and row[0])


def test_templates_in_sql_text_are_refused_with_their_place(ops: Ops) -> None:
    ops.book(
        "spliced",
        """\
        name: spliced
        title: Spliced
        parameters:
          org: {type: str, required: true}
        steps:
          - id: find
            title: Find the org
            uses: sql.query
            with: {sql: "select * from orgs where name = '{{ params.org }}'"}
          - id: again
            title: Again
            sql: "select * from orgs where name = '{{ params.org }}'"
        """,
    )
    attack = "x'; commit; create table pwned_uses(x int); select '1"
    result = ops.run("runbook", "run", "spliced", "--param", f"org={attack}")
    assert result.exit_code == 2
    path = ops.books / "spliced.yaml"
    assert f"{path}:9:17: steps[0].with.sql: sql cannot hold {{{{ }}}} templates" in (result.output)
    assert "write %(name)s and give it in params" in result.output
    assert f"{path}:12:10: steps[1].sql: sql cannot hold" in result.output
    assert "give it in sql_params" in result.output
    assert not _table_exists(ops, "pwned_uses")


def test_bound_values_are_data(ops: Ops) -> None:
    ops.book(
        "bound",
        """\
        name: bound
        title: Bound
        parameters:
          org: {type: str, required: true}
        steps:
          - id: find
            title: Find the org
            sql: select count(*) as n, %(org)s::text as asked from orgs where name = %(org)s
            sql_params: {org: "{{ params.org }}"}
        """,
    )
    attack = "x'; commit; create table pwned_bound(x int); select '1"
    run = ops.json("runbook", "run", "bound", "--param", f"org={attack}")
    assert run["steps"][0]["output"]["rows"] == [{"n": 0, "asked": attack}]
    assert not _table_exists(ops, "pwned_bound")


READ_ONLY_ESCAPES = [
    "commit; create table pwned(x int)",
    "select 1; create table pwned(x int)",
    "set transaction read write; create table pwned(x int)",
    "reset all; create table pwned(x int)",
    "set default_transaction_read_only = off; commit; create table pwned(x int)",
    "set transaction read write",
    "do $$ begin create table pwned(x int); end $$",
    "do $$ begin commit; create table pwned(x int); end $$",
    "do $$ begin perform set_config('transaction_read_only', 'off', true); "
    "create table pwned(x int); end $$",
    "create table pwned(x int)",
    "select 1 into pwned",
]


@pytest.mark.parametrize("sql", READ_ONLY_ESCAPES)
def test_a_read_only_step_cannot_write_whatever_its_text(ops: Ops, sql: str) -> None:
    ops.book(
        "escape",
        f"name: escape\ntitle: Escape\nsteps:\n  - id: go\n    title: Go\n    sql: {_yaml(sql)}\n",
    )
    run = ops.json("runbook", "run", "escape", code=1)
    assert run["steps"][0]["status"] == "failed"
    assert run["steps"][0]["error"].startswith("SQL failed: ")
    assert not _table_exists(ops, "pwned")


def test_percent_signs_in_read_only_sql_need_no_escaping(ops: Ops) -> None:
    ops.book(
        "like",
        """\
        name: like
        title: Like
        steps:
          - id: go
            title: Go
            sql: select count(*) >= 0 as ok from orgs where name like '%a%'
        """,
    )
    run = ops.json("runbook", "run", "like")
    assert run["steps"][0]["output"]["rows"] == [{"ok": True}]


def test_every_writing_step_is_audited(ops: Ops) -> None:
    ops.book(
        "writer",
        """\
        name: writer
        title: Writer
        steps:
          - id: through_uses
            title: Through uses
            uses: sql.query
            with: {sql: "create table audited_uses(x int)", writes: true}
          - id: through_sql
            title: Through sql
            sql: create table audited_sql(x int)
            writes: true
          - id: through_shell
            title: Through the shell
            run: "true"
        """,
    )
    run = ops.json("runbook", "run", "writer")
    assert run["status"] == "succeeded"
    assert _table_exists(ops, "audited_uses") and _table_exists(ops, "audited_sql")
    audit = ops.json("audit", "list")
    targets = {(a["action"], a["target"]) for a in audit}
    rid = run["id"]
    assert ("runbook.sql.query", f"run {rid} step through_uses") in targets
    assert ("runbook.sql.query", f"run {rid} step through_sql") in targets
    assert ("runbook.shell.run", f"run {rid} step through_shell") in targets


def _yaml(text: str) -> str:
    """A YAML double-quoted scalar holding text exactly."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
