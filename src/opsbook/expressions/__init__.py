"""Conditions and templates in a bounded sandbox: Jinja2's sandboxed expressions, never eval.

`core` evaluates and renders, `sandbox` bounds every evaluation in time and size, and
`shell` renders a command so that no value can become shell text.
"""

from opsbook.expressions.core import (
    ExpressionError,
    check_syntax,
    check_template,
    evaluate,
    is_template,
    references,
    render,
)
from opsbook.expressions.sandbox import BUDGET, MAX_INT_BITS, MAX_SIZE, MAX_TEXT
from opsbook.expressions.shell import ENV_PREFIX, ShellCommand, render_shell

__all__ = [
    "BUDGET",
    "ENV_PREFIX",
    "MAX_INT_BITS",
    "MAX_SIZE",
    "MAX_TEXT",
    "ExpressionError",
    "ShellCommand",
    "check_syntax",
    "check_template",
    "evaluate",
    "is_template",
    "references",
    "render",
    "render_shell",
]
