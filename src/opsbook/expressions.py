"""Conditions and templates in a bounded sandbox: Jinja2's sandboxed expressions, never eval.

`when: steps.active.output.rows[0].count > 100` and `url: "{{ params.base }}/health"`
are evaluated with StrictUndefined, so a typo is an error, not a silent false.

A runbook or a check is written by a person who may be careless or hostile, so every
evaluation is bounded in time and size:
- parsing never evaluates anything (Jinja's constant folding is off: with it,
  `10**(10**10)` was computed while a runbook was merely being loaded);
- templates hold `{{ expressions }}` and text only: no `{% for %}`, whose nesting makes
  the cost of one step unbounded;
- every operation that can make a value much larger than its inputs (`**`, `*`, `%`,
  padding, `replace`, `join`, the padding and filling filters) is checked before it runs,
  and charged to a budget that one evaluation cannot exceed;
- an expression's text is at most `MAX_TEXT` characters.

Values placed in a shell command never become shell text: `render_shell` puts each value
in an environment variable and the command refers to it (see `ShellCommand`).
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    Undefined,
    nodes,
    pass_context,
    pass_eval_context,
)
from jinja2 import filters as jinja_filters
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEXT = 10_000  # characters in one expression or template
MAX_SIZE = 1_000_000  # characters or items one value may reach
BUDGET = 5_000_000  # characters or items all the growing operations of one evaluation make
MAX_INT_BITS = 10_000  # about 3,000 decimal digits
_BIG_WIDTH = re.compile(r"\d{7,}")  # a width or precision of a million or more in a format


class ExpressionError(ValueError):
    pass


class _TooBig(SecurityError):
    """A value would grow past the bounds; raised inside Jinja, reported as ExpressionError."""


_budget: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("budget", default=None)
_collector: contextvars.ContextVar[_Collected | None] = contextvars.ContextVar(
    "collector", default=None
)


@dataclass
class _Collected:
    """The values of one shell command being rendered, and its markers' nonce."""

    nonce: str
    values: list[str]


def _charge(amount: int, what: str) -> None:
    if amount > MAX_SIZE:
        raise _TooBig(
            f"{what} would make a value of {amount:,} characters or items (limit {MAX_SIZE:,})"
        )
    left = _budget.get()
    if left is None:
        return
    left[0] -= amount
    if left[0] < 0:
        raise _TooBig(f"{what}: this expression builds more than {BUDGET:,} characters or items")


def _size(value: Any, cap: int = MAX_SIZE + 1) -> int:
    """Characters or items in a value, counting shared parts each time; stops past `cap`."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return max(1, value.bit_length() // 3)
    if not isinstance(value, list | tuple | dict | set | frozenset):
        return 1
    total = 0
    stack: list[Any] = [value]
    while stack and total <= cap:
        item = stack.pop()
        if isinstance(item, dict):
            total += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            stack.extend(item)
        else:
            total += _size(item, cap)
    return total


def _check_int(value: Any, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SIZE:
        raise _TooBig(f"{what} with {value:,} is past the limit of {MAX_SIZE:,}")


def _charge_format(fmt: Any, args: Any, what: str) -> None:
    """A format string's result is at most its text, its widths and its arguments."""
    text = fmt if isinstance(fmt, str) else str(fmt)
    if _BIG_WIDTH.search(text):
        raise _TooBig(f"{what}: widths of a million or more are not allowed")
    values = list(args.values()) if isinstance(args, dict) else args
    values = list(values) if isinstance(values, list | tuple) else [values]
    widths = sum(int(digits) for digits in re.findall(r"\d+", text))
    for value in values:
        _check_int(value, what)
        if isinstance(value, int) and not isinstance(value, bool):
            widths += abs(value)
    _charge(len(text) + widths + _size(values), what)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            bits = right * math.log2(abs(left))
            if bits > MAX_INT_BITS:
                raise _TooBig(f"{left} ** {right} is too large ({bits:,.0f} bits)")
    elif operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(times, int) and not isinstance(seq, int | float):
                _charge(_size(seq) * max(times, 0), "repeating a value")
        both_int = isinstance(left, int) and isinstance(right, int)
        if both_int and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _TooBig("multiplying these numbers makes one too large")
    elif operator == "%" and isinstance(left, str):
        _charge_format(left, right, "formatting with %")
    elif operator == "+" and isinstance(left, str | list | tuple):
        _charge(_size(left) + _size(right), "joining values")


_SAFE_STR_METHODS = frozenset(
    "lower upper strip lstrip rstrip startswith endswith split rsplit splitlines find rfind "  # noqa: SIM905
    "index rindex count title capitalize casefold swapcase partition rpartition removeprefix "
    "removesuffix isdigit isdecimal isnumeric isalpha isalnum isspace islower isupper "
    "istitle isascii isidentifier isprintable".split()
)


def _check_str_method(owner: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if name in _SAFE_STR_METHODS:
        return
    if name in ("ljust", "rjust", "center", "zfill"):
        width = args[0] if args else kwargs.get("width", 0)
        _check_int(width, f"str.{name}")
        _charge(max(len(owner), width if isinstance(width, int) else 0), f"str.{name}")
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        _check_int(size, "str.expandtabs")
        _charge(len(owner) * max(int(size), 1), "str.expandtabs")
    elif name == "replace" and len(args) >= 2:
        _charge(_replaced_size(owner, args[0], args[1]), "str.replace")
    elif name == "join" and args:
        _charge(_joined_size(owner, args[0]), "str.join")
    elif name in ("format", "format_map"):
        _charge_format(owner, [*args, *kwargs.values()], f"str.{name}")
    else:
        raise SecurityError(f"str.{name} is not available in expressions")


def _replaced_size(text: Any, old: Any, new: Any) -> int:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return _size(text)
    count = text.count(old) if old else len(text) + 1
    return len(text) + count * max(len(new) - len(old), 0)


def _joined_size(separator: Any, items: Any) -> int:
    if not isinstance(items, list | tuple | str | range):
        items = list(items)
    return _size(separator) * max(len(items) - 1, 0) + _size(list(items))


class _Bounded(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with every value-growing operation checked first."""

    intercepted_binops = frozenset({"**", "*", "%", "+"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        # The sandbox hands str.format out wrapped (its own safe formatter): look inside.
        target = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(owner, getattr(target, "__name__", ""), args, kwargs)
        elif getattr(__obj, "__name__", "") == "fromkeys":
            raise SecurityError("fromkeys is not available in expressions")
        for value in (*args, *kwargs.values()):
            if isinstance(value, range):
                _charge(len(value), "a range")
        return super().call(__context, __obj, *args, **kwargs)


def _bounded_filters() -> dict[str, Callable[..., Any]]:
    """The filters that can grow a value, each checked and charged before it runs."""

    def center(value: Any, width: int = 80) -> str:
        _check_int(width, "center")
        _charge(max(len(str(value)), int(width)), "center")
        return jinja_filters.do_center(value, width)

    def indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> str:
        text = str(value)
        pad = width if isinstance(width, str) else " " * _checked(width, "indent")
        _charge(len(text) + len(pad) * (text.count("\n") + 1), "indent")
        return jinja_filters.do_indent(text, pad, first, blank)

    def replace(ctx: Any, value: Any, old: Any, new: Any, count: int | None = None) -> Any:
        _charge(_replaced_size(str(value), str(old), str(new)), "replace")
        return jinja_filters.do_replace(ctx, value, old, new, count)

    def format_(value: Any, *args: Any, **kwargs: Any) -> str:
        _charge_format(value, [*args, *kwargs.values()], "format")
        return jinja_filters.do_format(value, *args, **kwargs)

    def join(ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
        items = list(value)
        _charge(_joined_size(d, items), "join")
        return jinja_filters.sync_do_join(ctx, items, d, attribute)

    def batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
        _charge(_checked(linecount, "batch"), "batch")
        return jinja_filters.do_batch(value, linecount, fill_with)

    def slice_(value: Any, slices: int, fill_with: Any = None) -> Any:
        _charge(_checked(slices, "slice"), "slice")
        return jinja_filters.sync_do_slice(value, slices, fill_with)

    def tojson(ctx: Any, value: Any, indent: int | None = None) -> Any:
        spaces = _checked(indent, "tojson") if indent is not None else 0
        # Each nested value is indented anew: the text grows with depth times indent.
        _charge(_size(value) * (1 + spaces), "tojson")
        return jinja_filters.do_tojson(ctx, value, indent)

    def string(value: Any) -> str:
        _charge(_size(value), "string")
        return str(value)

    return {
        "center": center,
        "indent": indent,
        "replace": pass_eval_context(replace),
        "format": format_,
        "join": pass_eval_context(join),
        "batch": batch,
        "slice": slice_,
        "tojson": pass_eval_context(tojson),
        "string": string,
    }


def _checked(width: Any, what: str) -> int:
    _check_int(width, what)
    return int(width)


@pass_context  # so that Jinja never applies it to a constant at compile time
def _finalize(_context: Any, value: Any) -> Any:
    """Each `{{ }}`'s result: charged, or, while rendering a shell command, set aside."""
    _charge(_size(value), "printing a value")
    collected = _collector.get()
    if collected is None:
        return value
    collected.values.append(_shell_text(value))
    return f"\x00{collected.nonce}:{len(collected.values) - 1}\x00"


def _environment() -> _Bounded:
    env = _Bounded(undefined=StrictUndefined, autoescape=False, optimized=False, finalize=_finalize)
    env.filters.update(_bounded_filters())
    for name in ("lipsum", "cycler", "joiner"):
        env.globals.pop(name, None)
    return env


_env = _environment()
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
)


@contextmanager
def _bounded(text: str) -> Iterator[None]:
    """One evaluation: its text checked, a fresh budget, every failure one ExpressionError."""
    if len(text) > MAX_TEXT:
        raise ExpressionError(
            f"{_short(text)}: {len(text):,} characters is longer than the limit of {MAX_TEXT:,}"
        )
    token = _budget.set([BUDGET])
    try:
        yield
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"{_short(text)} does not parse: {exc.message}") from None
    except _CAUGHT as exc:
        raise ExpressionError(f"{_short(text)}: {_reason(exc)}") from None
    finally:
        _budget.reset(token)


def _short(text: str) -> str:
    return repr(text if len(text) <= 200 else text[:200] + "...")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, MemoryError):
        return "needs too much memory"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def check_syntax(expression: str) -> None:
    """Parse an expression without evaluating any of it."""
    with _bounded(expression):
        _env.compile_expression(expression)


def check_template(text: str) -> None:
    """Parse a template without evaluating it; refuse `{% %}` statements."""
    with _bounded(text):
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
    with _bounded(expression):
        value = _expression(expression)(**context)
        if isinstance(value, Undefined):
            # An unknown name or a blocked attribute (`lipsum.__globals__`): say so here,
            # in one line, rather than when the caller first uses the value.
            value._fail_with_undefined_error()
        return value


def _render_text(text: str, context: Mapping[str, Any]) -> str:
    with _bounded(text):
        return _template(text).render(**context)


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Render templates inside strings, lists and dicts; `"{{ x }}"` alone keeps x's type."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        whole = _WHOLE.match(value)
        if whole and "{{" not in whole.group(1) and "}}" not in whole.group(1):
            return evaluate(whole.group(1), context)
        return _render_text(value, context)
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


# --- shell commands ---------------------------------------------------------------------

ENV_PREFIX = "OPSBOOK_ARG_"


@dataclass(frozen=True)
class ShellCommand:
    """A command whose values are data: `text` refers to them, `env` carries them.

    `echo '{{ params.x }}'` becomes `echo ''"${OPSBOOK_ARG_0}"''` with OPSBOOK_ARG_0 in
    the environment. The shell expands a variable into text but never parses that text
    as shell syntax, so no value, whatever quotes surround its placeholder, can become a
    command.
    """

    text: str
    env: dict[str, str]


def _shell_text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        raise SecurityError("a value holds a NUL byte, which a command cannot receive")
    return text


def render_shell(text: str, context: Mapping[str, Any]) -> ShellCommand:
    """Render a command template with every value passed by environment, never as text."""
    collected = _Collected(nonce=secrets.token_hex(8), values=[])
    token = _collector.set(collected)
    try:
        rendered = _render_text(text, context)
        with _bounded(text):
            return _place_values(rendered, collected)
    finally:
        _collector.reset(token)


def _place_values(rendered: str, collected: _Collected) -> ShellCommand:
    # finalize left a marker, NUL + nonce + number + NUL, where each value goes; the nonce
    # is fresh for every command, so neither the runbook's text nor a value can forge one.
    marker = re.compile(f"\x00{collected.nonce}:(\\d+)\x00")
    values = collected.values
    out: list[str] = []
    states = ["plain"]
    i = 0
    while i < len(rendered):
        found = marker.match(rendered, i)
        if found:
            number = int(found.group(1))
            out.append(_reference(states[-1], number))
            i = found.end()
            continue
        if rendered[i] == "\x00":
            raise SecurityError("a command cannot hold a NUL byte")
        step = _advance(states, rendered, i)
        out.append(rendered[i : i + step])
        i += step
    env = {f"{ENV_PREFIX}{n}": value for n, value in enumerate(values)}
    return ShellCommand(text="".join(out), env=env)


def _reference(state: str, number: int) -> str:
    """How a value is referred to where its placeholder stands."""
    ref = "${" + f"{ENV_PREFIX}{number}" + "}"
    if state == "double":
        return ref
    if state == "single":
        return f"'\"{ref}\"'"
    if state == "arith":
        raise SecurityError("a value cannot go inside $(( )): the shell would evaluate it")
    return f'"{ref}"'


def _advance(states: list[str], text: str, i: int) -> int:
    """Move over one lexical unit of shell text, tracking quotes; returns its length."""
    state = states[-1]
    char = text[i]
    if state == "single":
        if char == "'":
            states.pop()
        return 1
    if state == "arith":
        if text.startswith("))", i):
            states.pop()
            return 2
        return 1
    if char == "\\":
        return 2
    if text.startswith("$((", i):
        states.append("arith")
        return 3
    if text.startswith("$(", i):
        states.append("sub")
        return 2
    if char == "`":
        if state == "backtick":
            states.pop()
        else:
            states.append("backtick")
        return 1
    if state == "double":
        if char == '"':
            states.pop()
        return 1
    if char == ")" and state == "sub":
        states.pop()
        return 1
    if char == "'":
        states.append("single")
    elif char == '"':
        states.append("double")
    return 1


def references(text: str, *, root: str, expression: bool) -> set[str]:
    """The names an expression or template reads through `root.<name>` / `root['<name>']`."""
    try:
        tree = _env.parse("{{ " + text + " }}" if expression else text)
    except (TemplateSyntaxError, RecursionError):
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
