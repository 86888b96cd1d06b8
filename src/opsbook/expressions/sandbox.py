"""The bounded Jinja environment: Jinja's immutable sandbox, with every operation that can
grow a value checked and charged to a per-evaluation budget before it runs.

A runbook or a check is written by a person who may be careless or hostile:
- parsing never evaluates anything (Jinja's constant folding is off: with it,
  `10**(10**10)` was computed while a runbook was merely being loaded);
- every operation that can make a value much larger than its inputs (`**`, `*`, `%`,
  padding, `replace`, `join`, the padding and filling filters) is checked before it runs,
  and charged to a budget that one evaluation cannot exceed.
"""

from __future__ import annotations

import contextvars
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, pass_context, pass_environment, pass_eval_context
from jinja2 import filters as jinja_filters
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from opsbook.jsonout import dumps

MAX_TEXT = 10_000  # characters in one expression or template
MAX_SIZE = 1_000_000  # characters or items one value may reach
BUDGET = 5_000_000  # characters or items all the growing operations of one evaluation make
MAX_INT_BITS = 10_000  # about 3,000 decimal digits
_BIG_WIDTH = re.compile(r"\d{7,}")  # a width or precision of a million or more in a format


class TooBig(SecurityError):
    """A value would grow past the bounds; raised inside Jinja, reported as ExpressionError."""


budget: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("budget", default=None)
collector: contextvars.ContextVar[Collected | None] = contextvars.ContextVar(
    "collector", default=None
)


@dataclass
class Collected:
    """The values of one shell command being rendered, and its markers' nonce."""

    nonce: str
    values: list[str]


def _charge(amount: int, what: str) -> None:
    if amount > MAX_SIZE:
        raise TooBig(
            f"{what} would make a value of {amount:,} characters or items (limit {MAX_SIZE:,})"
        )
    left = budget.get()
    if left is None:
        return
    left[0] -= amount
    if left[0] < 0:
        raise TooBig(f"{what}: this expression builds more than {BUDGET:,} characters or items")


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
        raise TooBig(f"{what} with {value:,} is past the limit of {MAX_SIZE:,}")


def _charge_format(fmt: Any, args: Any, what: str) -> None:
    """A format string's result is at most its text, its widths and its arguments."""
    text = fmt if isinstance(fmt, str) else str(fmt)
    if _BIG_WIDTH.search(text):
        raise TooBig(f"{what}: widths of a million or more are not allowed")
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
                raise TooBig(f"{left} ** {right} is too large ({bits:,.0f} bits)")
    elif operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(times, int) and not isinstance(seq, int | float):
                _charge(_size(seq) * max(times, 0), "repeating a value")
        both_int = isinstance(left, int) and isinstance(right, int)
        if both_int and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TooBig("multiplying these numbers makes one too large")
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


_VALUES = (int, float, bytes, bytearray, list, tuple, dict, set, frozenset, range, type)
_SAFE_VALUE_METHODS = frozenset(
    "get keys values items count index bit_length is_integer conjugate "  # noqa: SIM905
    "isdisjoint issubset issuperset".split()
)


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
        name = getattr(target, "__name__", "")
        if isinstance(owner, str):
            _check_str_method(owner, name, args, kwargs)
        elif isinstance(owner, _VALUES) and name not in _SAFE_VALUE_METHODS:
            # int.to_bytes(2*10**9) or bytes.center(10**7) grow a value in one C call:
            # on numbers, bytes and containers only methods that cannot are allowed.
            raise SecurityError(f"{type(owner).__name__}.{name} is not available in expressions")
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

    def sum_(ctx: Any, value: Any, attribute: Any = None, start: Any = 0) -> Any:
        # Python's sum of lists copies the total at each step: quadratic. Numbers only.
        if not isinstance(start, int | float) or isinstance(start, bool):
            raise SecurityError("sum adds numbers; start must be a number")
        items = list(value)
        _charge(len(items), "sum")
        if any(not isinstance(i, int | float) for i in items if attribute is None):
            raise SecurityError("sum adds numbers; the items are not all numbers")
        return jinja_filters.sync_do_sum(ctx, items, attribute, start)

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
        "sum": pass_environment(sum_),
    }


def _checked(width: Any, what: str) -> int:
    _check_int(width, what)
    return int(width)


@pass_context  # so that Jinja never applies it to a constant at compile time
def _finalize(_context: Any, value: Any) -> Any:
    """Each `{{ }}`'s result: charged, or, while rendering a shell command, set aside."""
    _charge(_size(value), "printing a value")
    collected = collector.get()
    if collected is None:
        return value
    collected.values.append(shell_text(value))
    return f"\x00{collected.nonce}:{len(collected.values) - 1}\x00"


@pass_context
def _finalize_set(context: Any, value: Any) -> Any:
    """As `_finalize`, refusing None: text that reads "incident None" is a value missing."""
    if value is None:
        raise ValueError("a value it writes is not set (None); was the run given an incident?")
    return _finalize(context, value)


def environment(*, refuse_none: bool = False, **options: Any) -> _Bounded:
    """The bounded environment; `options` (a loader, autoescape) for file templates.
    `refuse_none`: a `{{ }}` inside text that evaluates to None is an error (runbooks)."""
    settings: dict[str, Any] = {"autoescape": False, **options}
    finalize = _finalize_set if refuse_none else _finalize
    env = _Bounded(undefined=StrictUndefined, optimized=False, finalize=finalize, **settings)
    env.filters.update(_bounded_filters())
    # `tojson` writes RFC 8259 JSON like every other opsbook writer: NaN becomes null.
    env.policies["json.dumps_function"] = dumps
    for name in ("lipsum", "cycler", "joiner"):
        env.globals.pop(name, None)
    return env


_env = environment()


def shell_text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        raise SecurityError("a value holds a NUL byte, which a command cannot receive")
    return text
