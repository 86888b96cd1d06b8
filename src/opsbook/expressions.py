"""Conditions and templates in a sandbox: Jinja2's sandboxed expressions, never Python eval.

`when: steps.active.output.rows[0].count > 100` and `url: "{{ params.base }}/health"`
are evaluated with StrictUndefined, so a typo is an error, not a silent false.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_shell_env = SandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    # Every value put into a shell command is quoted: a parameter cannot inject a command.
    finalize=lambda value: shlex.quote(str(value)),
)
_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)


class ExpressionError(ValueError):
    pass


def check_syntax(expression: str) -> None:
    try:
        _env.compile_expression(expression)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"{expression!r} does not parse: {exc.message}") from None


def check_template(text: str) -> None:
    try:
        _env.parse(text)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"{text!r} does not parse: {exc.message}") from None


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    try:
        return _env.compile_expression(expression, undefined_to_none=False)(**context)
    except (
        UndefinedError,
        SecurityError,
        TypeError,
        ValueError,
        ArithmeticError,
        LookupError,
        AttributeError,
        TemplateSyntaxError,
    ) as exc:
        raise ExpressionError(f"{expression!r}: {exc}") from None


def render(value: Any, context: Mapping[str, Any], *, shell: bool = False) -> Any:
    """Render templates inside strings, lists and dicts; `"{{ x }}"` alone keeps x's type."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        whole = _WHOLE.match(value)
        if whole and not shell and "{{" not in whole.group(1):
            return evaluate(whole.group(1), context)
        try:
            return (_shell_env if shell else _env).from_string(value).render(**context)
        except (UndefinedError, SecurityError, TypeError, ValueError, TemplateSyntaxError) as exc:
            raise ExpressionError(f"{value!r}: {exc}") from None
    if isinstance(value, list):
        return [render(v, context, shell=shell) for v in value]
    if isinstance(value, dict):
        return {k: render(v, context, shell=shell) for k, v in value.items()}
    return value


def references(text: str, *, root: str, expression: bool) -> set[str]:
    """The names an expression or template reads through `root.<name>` / `root['<name>']`."""
    try:
        tree = _env.parse("{{ " + text + " }}" if expression else text)
    except TemplateSyntaxError:
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
