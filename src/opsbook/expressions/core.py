"""Conditions and templates evaluated in the bounded sandbox, never with Python eval.

`when: steps.active.output.rows[0].count > 100` and `url: "{{ params.base }}/health"`
are evaluated with StrictUndefined, so a typo is an error, not a silent false. Templates
hold `{{ expressions }}` and text only (no `{% for %}`, whose nesting makes the cost of
one step unbounded), and an expression's text is at most `MAX_TEXT` characters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from jinja2 import Template, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, UndefinedError

from opsbook.expressions.sandbox import BUDGET, MAX_TEXT, budget, environment

# Runbook text never says "None": `incident {{ incident.id }}` without an incident is an
# error naming the template, not an instruction to run `postmortem None`.
_env = environment(refuse_none=True)


class ExpressionError(ValueError):
    pass


_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)
_CAUGHT = (
    UndefinedError,
    SecurityError,
    TypeError,
    ValueError,
    ArithmeticError,
    LookupError,
    AttributeError,
    TemplateSyntaxError,
    RecursionError,
    MemoryError,
    # Jinja compiles to Python; 250 chained filters nest past what Python's parser takes.
    SyntaxError,
)


@contextmanager
def bounded(text: str) -> Iterator[None]:
    """One evaluation: its text checked, a fresh budget, every failure one ExpressionError."""
    if len(text) > MAX_TEXT:
        raise ExpressionError(
            f"{_short(text)}: {len(text):,} characters is longer than the limit of {MAX_TEXT:,}"
        )
    token = budget.set([BUDGET])
    try:
        yield
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"{_short(text)} does not parse: {exc.message}") from None
    except _CAUGHT as exc:
        raise ExpressionError(f"{_short(text)}: {_reason(exc)}") from None
    finally:
        budget.reset(token)


def _short(text: str) -> str:
    return repr(text if len(text) <= 200 else text[:200] + "...")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError | SyntaxError):
        return "nested too deeply"
    if isinstance(exc, MemoryError):
        return "needs too much memory"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def check_syntax(expression: str) -> None:
    """Parse an expression without evaluating any of it."""
    with bounded(expression):
        _env.compile_expression(expression)


def check_template(text: str) -> None:
    """Parse a template without evaluating it; refuse `{% %}` statements."""
    with bounded(text):
        _only_expressions(_env.parse(text))


def _only_expressions(tree: nodes.Template) -> None:
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            tag = type(node).__name__.lower()
            raise SecurityError(
                f"templates hold {{{{ expressions }}}} and text only; a {{% {tag} %}} "
                "statement is not allowed (write a condition as {{ a if b else c }})"
            )


@functools.lru_cache(maxsize=1024)
def _expression(expression: str) -> Callable[..., Any]:
    # Checks evaluate the same few conditions thousands of times a second: compile once.
    return _env.compile_expression(expression, undefined_to_none=False)


@functools.lru_cache(maxsize=1024)
def _template(text: str) -> Template:
    tree = _env.parse(text)
    _only_expressions(tree)
    return _env.from_string(tree)


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    with bounded(expression):
        value = _expression(expression)(**context)
        if isinstance(value, Undefined):
            # An unknown name or a blocked attribute (`lipsum.__globals__`): say so here,
            # in one line, rather than when the caller first uses the value.
            value._fail_with_undefined_error()
        return value


def render_text(text: str, context: Mapping[str, Any]) -> str:
    with bounded(text):
        return _template(text).render(**context)


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render templates inside strings, lists and dicts; `"{{ x }}"` alone keeps x's type."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        whole = _WHOLE.match(value)
        if whole and "{{" not in whole.group(1) and "}}" not in whole.group(1):
            return evaluate(whole.group(1), context)
        return render_text(value, context)
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    return value


def is_template(value: Any) -> bool:
    """Whether a string holds `{{ }}` or `{% %}`, anywhere inside lists and dicts."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list):
        return any(is_template(v) for v in value)
    if isinstance(value, dict):
        return any(is_template(v) for v in value.values())
    return False


def references(text: str, *, root: str, expression: bool) -> set[str]:
    """The names an expression or template reads through `root.<name>` / `root['<name>']`."""
    try:
        tree = _env.parse("{{ " + text + " }}" if expression else text)
    except (TemplateSyntaxError, RecursionError, SyntaxError):
        return set()
    found: set[str] = set()
    for node in tree.find_all(nodes.Getattr):
        assert isinstance(node, nodes.Getattr)
        if isinstance(node.node, nodes.Name) and node.node.name == root:
            found.add(node.attr)
    for item in tree.find_all(nodes.Getitem):
        assert isinstance(item, nodes.Getitem)
        if (
            isinstance(item.node, nodes.Name)
            and item.node.name == root
            and isinstance(item.arg, nodes.Const)
            and isinstance(item.arg.value, str)
        ):
            found.add(item.arg.value)
    return found
