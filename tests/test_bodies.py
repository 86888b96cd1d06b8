"""The body limits' pure parts: depth measured without recursion, strict JSON, and the
strings PostgreSQL cannot store. (The middleware is tested through real servers in
tests/web and tests/sandbox.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opsbook.bodies import BodyError, check_depth, json_depth, parse_json, shown, unstorable

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\x00'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    """The reference: nesting of the parsed value, walked with a stack."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, list | dict):
            level += 1
            stack.extend(
                (child, level) for child in (item.values() if isinstance(item, dict) else item)
            )
        deepest = max(deepest, level)
    return deepest


@given(_json)
def test_json_depth_matches_the_parsed_value(value: Any) -> None:
    assert json_depth(json.dumps(value)) == _depth(value)
    assert json_depth(json.dumps(value, indent=2, ensure_ascii=False)) == _depth(value)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("", 0),
        ("1", 0),
        ('"[[[{{{"', 0),  # brackets in a string are text
        ('["\\"[[", {"a": [1]}]', 3),  # an escaped quote does not end the string
        ('["\\\\", [[]]]', 3),  # an escaped backslash does
        ('"unclosed [[[', 0),
        ("[" * 100_000, 100_000),  # measured without recursion
    ],
)
def test_json_depth(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_check_depth_reads_any_encoding_json_does() -> None:
    deep = json.dumps([[[["x"]]]])
    check_depth(deep.encode("utf-16"), 4)
    with pytest.raises(BodyError, match="JSON nested deeper than 3 levels"):
        check_depth(deep.encode("utf-16"), 3)
    check_depth(b"\xff\xfe\xfa" + b"[" * 10, 3)  # not JSON text: left for the parser to refuse


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[NaN]", "NaN is not a JSON number"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
        (b"[1e400]", "'1e400' is too large for a JSON number"),
        (b"9" * 5000, "body is not JSON: Exceeds the limit"),
        (b"\xff", "body is not JSON"),
        (b"[" * 100_000, "JSON nested too deeply"),  # had the depth check been skipped
    ],
)
def test_parse_json_is_strict(body: bytes, error: str) -> None:
    with pytest.raises(BodyError, match=error.replace("[", r"\[")):
        parse_json(body)


def test_parse_json_takes_large_but_finite_numbers() -> None:
    assert parse_json(b'[1e300, 100000000000000000000000000000, "\\u00e9"]') == [
        1e300,
        10**29,
        "é",
    ]


def test_unstorable_names_the_place() -> None:
    assert unstorable({"a": [1, "ok", {"b": "x\x00y"}]}) == (
        "body.a[2].b: 'x\\x00y' contains a NUL character"
    )
    assert unstorable({"k\x00": 1}) == "body key: 'k\\x00' contains a NUL character"
    assert unstorable(["\ud800"]) == "body[0]: '\\ud800' contains a lone surrogate"
    assert unstorable({"weird key!": {"x": "\x00"}}) == (
        "body['weird key!'].x: '\\x00' contains a NUL character"
    )
    assert unstorable({"fine": ["\x1b[31m", "; rm -rf /", 1.5, None]}) is None


def test_shown_escapes_and_cuts_short() -> None:
    assert shown("\x1b[31m\x00") == "'\\x1b[31m\\x00'"
    long = shown("x" * 10_000)
    assert len(long) == 60 and long.endswith("…")
