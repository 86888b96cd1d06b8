"""YAML that would crash or exhaust the machine is refused, located, before it is built.

The same loader reads opsbook.yaml and every runbook, so each limit holds for both.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.config import ConfigError, parse_config
from opsbook.config.source import ALIAS_BUDGET, MAX_DEPTH
from opsbook.registry import default_registry
from opsbook.runbooks.loader import RunbookError, parse_runbook

CONTROL = "only tab and line breaks may appear besides text"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file="opsbook.yaml", env={})
    return [str(issue) for issue in caught.value.issues]


def laughs(levels: int) -> str:
    """The billion laughs: each level a list of nine aliases of the one before."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("char", "code"), [("\x00", "U+0000"), ("\x07", "U+0007"), ("\x1b", "U+001B")]
)
def test_control_characters_are_refused_where_they_stand(char: str, code: str) -> None:
    assert problems(f"version: 1\nproject: ops{char}book\n") == [
        f"opsbook.yaml:2:13: control character {code} is not allowed ({CONTROL})"
    ]


def test_tab_and_both_line_endings_are_text() -> None:
    config = parse_config("project: 'ops\tbook'\r\nversion: 1\r\n", file="opsbook.yaml", env={})
    assert config.project == "ops\tbook"


def test_a_nul_byte_in_the_file_exits_2_located(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_bytes(b"project: ops\x00book\n")
    result = CliRunner().invoke(
        app, ["--config", str(tmp_path / "opsbook.yaml"), "config", "check"]
    )
    assert result.exit_code == 2, result.output
    assert f"opsbook.yaml:1:13: control character U+0000 is not allowed ({CONTROL})" in (
        result.output
    )


@pytest.mark.parametrize(
    ("text", "where", "name"),
    [
        ("project: &r [*r]\n", "1:14", "r"),  # a list holding itself
        ("app: &a {<<: *a}\n", "1:14", "a"),  # a mapping merging itself
        ("? &k [*k]\n: 1\n", "1:7", "k"),  # a key holding itself
    ],
)
def test_an_alias_inside_its_own_anchor_is_refused(text: str, where: str, name: str) -> None:
    assert problems(text) == [
        f"opsbook.yaml:{where}: alias *{name} is inside its own anchor &{name}"
        " (recursive YAML is not allowed)"
    ]


def test_the_billion_laughs_is_refused_at_the_alias_that_crosses_the_budget() -> None:
    # Nine levels: 9**10 (3.5 billion) values once expanded, from 700 bytes.
    assert problems(laughs(9)) == [
        f"opsbook.yaml:5:10: alias *l3 takes the values aliases repeat past {ALIAS_BUDGET:,}"
        " (an alias bomb?); write the values out instead"
    ]


def test_a_billion_laughs_of_merge_keys_is_refused() -> None:
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}"]
    for level in range(1, 10):
        merged = ", ".join([f"*m{level - 1}"] * 9)
        lines.append(f"m{level}: &m{level} {{<<: [{merged}]}}")
    [problem] = problems("\n".join(lines) + "\n")
    assert "(an alias bomb?)" in problem


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    deep = "project: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n"
    assert problems(deep) == [
        f"opsbook.yaml:1:{9 + MAX_DEPTH}: nested more than {MAX_DEPTH} levels deep"
    ]


def test_thousands_of_levels_do_not_reach_pythons_recursion_limit() -> None:
    [problem] = problems("project: " + "[" * 5000 + "]" * 5000 + "\n")
    assert problem.endswith(f"nested more than {MAX_DEPTH} levels deep")


def test_anchors_for_shared_defaults_still_load() -> None:
    text = textwrap.dedent(
        """\
        x-defaults: &defaults {kind: http, interval: 1m, timeout: 5s}
        checks:
        """
    )
    text += "".join(
        f"  - {{<<: *defaults, name: c{i}, url: 'http://127.0.0.1/{i}'}}\n" for i in range(300)
    )
    with pytest.raises(ConfigError) as caught:  # x-defaults is not a section...
        parse_config(text, file="opsbook.yaml", env={})
    assert [i.path for i in caught.value.issues] == ["x-defaults"]  # ...but the rest loads


def test_a_large_file_may_repeat_as_many_values_as_it_writes() -> None:
    shared = "x: &x [" + ", ".join(["1"] * 100) + "]\n"
    written = "y: [" + ", ".join(["2"] * (2 * ALIAS_BUDGET)) + "]\n"
    repeated = "z: [" + ", ".join(["*x"] * (ALIAS_BUDGET // 100 + 10)) + "]\n"
    alone = problems(shared + repeated)
    assert len(alone) == 1 and "(an alias bomb?)" in alone[0]
    # Beside 20,000 written values the same aliases are within budget: only the unknown
    # keys x, y and z remain to say.
    found = problems(shared + written + repeated)
    assert [p.split(": ", 2)[2] for p in found] == [f"unknown key {k!r}" for k in "xyz"]


def test_numbers_and_dates_yaml_cannot_make_are_refused_by_the_model() -> None:
    assert problems("project: 2026-13-45\nwatch:\n  concurrency: 2026-13-45\n") == [
        "opsbook.yaml:3:16: watch.concurrency: '2026-13-45' is not a whole number"
    ]


RUNBOOK = """\
name: laughs
title: Laughs
steps:
  - {id: one, title: One, manual: Look}
"""


def test_runbooks_go_through_the_same_limits() -> None:
    registry = default_registry()
    for text, message in (
        (RUNBOOK + laughs(9).replace("l0:", "x-l0:"), "(an alias bomb?)"),
        (RUNBOOK + "description: &d [*d]\n", "alias *d is inside its own anchor &d"),
        (RUNBOOK.replace("Look", "Lo\x07ok"), "control character U+0007 is not allowed"),
    ):
        with pytest.raises(RunbookError) as caught:
            parse_runbook(text, file="laughs.yaml", registry=registry)
        [issue] = caught.value.issues
        assert message in str(issue) and str(issue).startswith("laughs.yaml:")
