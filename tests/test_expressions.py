"""Expressions and templates are bounded: no input makes one evaluation hang or eat memory,
and parsing never evaluates."""

from __future__ import annotations

import pytest

from opsbook import expressions
from opsbook.expressions import ExpressionError, check_syntax, check_template, evaluate, render

HUGE = [
    ("10**(10**10) > 0", "is too large"),
    ("2 ** (2 ** (2 ** (2 ** (2 ** 2))))", "is too large"),
    ("'a' * 10**9", "limit 1,000,000"),
    ("[0] * 10**9", "limit 1,000,000"),
    ("[[0] * 1000] * 10000", "limit 1,000,000"),
    ("(range(100000) | list) * 100", "limit 1,000,000"),
    ("'%999999999d' % 1", "widths of a million or more"),
    ("'%*d' % (10**9, 1)", "past the limit"),
    ("'{:>99999999}'.format(1)", "widths of a million or more"),
    ("'{:>{w}}'.format(1, w=10**9)", "past the limit"),
    ("'x'.ljust(10**9)", "past the limit"),
    ("'x'.center(10**9)", "past the limit"),
    ("'x'.zfill(10**9)", "past the limit"),
    ("'x\\t'.expandtabs(10**9)", "past the limit"),
    ("('a' * 1000000).replace('a', 'aaaaaaaaaa')", "limit 1,000,000"),
    ("'x' | center(10**9)", "past the limit"),
    ("'x' | indent(10**9)", "past the limit"),
    ("(range(100000) | join('x' * 1000))", "limit"),
    ("range(100000) | map('center', 100000) | list | length", "more than 5,000,000"),
    ("'%99999999d' | format(1)", "widths of a million or more"),
    ("'%99999d' | format(1) | list | map('center', 999999) | list", "more than 5,000,000"),
    ("range(10) | slice(10**9) | list", "past the limit"),
    ("[1] | batch(10**9, 0) | list", "past the limit"),
    ("range(10**9) | list", "Range too big"),
    ("'a'.translate({97: 'b' * 1000000})", "str.translate is not available"),
    ("{}.fromkeys(range(100000), 'x' * 1000)", "fromkeys is not available"),
    ("lipsum(999999)", "'lipsum' is undefined"),
    ("((1).to_bytes(2*10**9, 'big')).hex() | length > 0", "int.to_bytes is not available"),
    ("([[1]] * 330000) | sum(start=[]) | length > 0", "sum adds numbers"),
    ("[[1], [2]] | sum", "sum adds numbers"),
    ("(" * 4000 + "1" + ")" * 4000, "nested too deeply"),
    ("1 + " * 5000 + "1", "longer than the limit of 10,000"),
]


@pytest.mark.parametrize(("expression", "reason"), HUGE)
def test_growth_is_refused_with_a_reason(expression: str, reason: str) -> None:
    with pytest.raises(ExpressionError) as refused:
        evaluate(expression, {})
    assert reason in str(refused.value)
    assert "\n" not in str(refused.value)


ESCAPES = [
    "lipsum.__globals__",
    "().__class__.__bases__[0].__subclasses__()",
    "cycler.__init__.__globals__.os",
    "joiner.__init__.__globals__",
    "self.__init__.__globals__",
    "''.__class__.__mro__",
    "namespace.__init__.__globals__",
    "params.x.__class__",
    "params.x.__class__.__base__.__subclasses__()",
    "[].append(1)",
    "{}.update({'a': 1})",
]


@pytest.mark.parametrize("expression", ESCAPES)
def test_escapes_from_the_sandbox_fail_in_one_line(expression: str) -> None:
    with pytest.raises(ExpressionError) as refused:
        evaluate(expression, {"params": {"x": "v"}})
    assert "\n" not in str(refused.value)
    with pytest.raises(ExpressionError):
        render("{{ " + expression + " }} as text", {"params": {"x": "v"}})


def test_parsing_never_evaluates() -> None:
    # With constant folding, parsing this computed the number (and hung the loader).
    check_syntax("10**(10**10) > 0")
    check_syntax("'a' * 10**9 == ''")
    check_template("{{ 10**(10**10) }} and {{ 'a' * 10**9 }}")


def test_templates_hold_expressions_only() -> None:
    for text in (
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{% if true %}x{% endif %}",
        "{% set x = 1 %}",
        "{% macro m() %}{% endmacro %}",
    ):
        with pytest.raises(ExpressionError, match="templates hold"):
            check_template(text)
        with pytest.raises(ExpressionError, match="templates hold"):
            render(text, {})


def test_ordinary_expressions_still_work() -> None:
    context = {"output": {"rows": [{"active": 12}], "status": 200}, "params": {"n": 3}}
    assert evaluate("output.rows[0].active <= 100 and output.status < 400", context) is True
    assert evaluate("2 ** 64", {}) == 2**64
    assert evaluate("'ab' * 3", {}) == "ababab"
    assert evaluate("'%05d' % 42", {}) == "00042"
    assert evaluate("'{:>6}'.format('x')", {}) == "     x"
    assert evaluate("range(5) | map('string') | join(',')", {}) == "0,1,2,3,4"
    assert evaluate("'a-b'.replace('-', '+').upper()", {}) == "A+B"
    assert render("{{ params.n * 2 }}", context) == 6  # a lone template keeps its type
    assert render("n={{ params.n }} {{ 'x' | center(5) }}", context) == "n=3   x  "


def test_a_shell_value_is_referred_to_by_the_quotes_around_it() -> None:
    context = {"params": {"x": "a'b", "y": "$(id)"}}
    command = expressions.render_shell("echo {{ params.x }} '{{ params.y }}' \"z{{ 1 }}\"", context)
    assert command.text == (
        'echo "${OPSBOOK_ARG_0}" \'\'"${OPSBOOK_ARG_1}"\'\' "z${OPSBOOK_ARG_2}"'
    )
    assert command.env == {"OPSBOOK_ARG_0": "a'b", "OPSBOOK_ARG_1": "$(id)", "OPSBOOK_ARG_2": "1"}


def test_a_chain_deeper_than_python_compiles_is_refused_in_one_line() -> None:
    chain = "1" + "|string" * 300
    with pytest.raises(ExpressionError, match="nested too deeply"):
        check_syntax(chain)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        evaluate(chain, {})
