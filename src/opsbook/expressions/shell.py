"""Shell commands whose templated values are data: passed by environment, never as text."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2.exceptions import SecurityError

from opsbook.expressions.core import bounded, render_text
from opsbook.expressions.quoting import COMMENT, DOUBLE, EVALUATED, HEREDOC, SINGLE, Place, Quoting
from opsbook.expressions.sandbox import Collected, collector

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


def render_shell(text: str, context: Mapping[str, Any]) -> ShellCommand:
    """Render a command template with every value passed by environment, never as text."""
    collected = Collected(nonce=secrets.token_hex(8), values=[])
    token = collector.set(collected)
    try:
        rendered = render_text(text, context)
        with bounded(text):
            return _place_values(rendered, collected)
    finally:
        collector.reset(token)


def _place_values(rendered: str, collected: Collected) -> ShellCommand:
    # finalize left a marker, NUL + nonce + number + NUL, where each value goes; the nonce
    # is fresh for every command, so neither the runbook's text nor a value can forge one.
    marker = re.compile(f"\x00{collected.nonce}:(\\d+)\x00")
    out: list[str] = []
    quoting = Quoting()
    i = 0
    while i < len(rendered):
        found = marker.match(rendered, i)
        if found:
            out.append(_reference(quoting.where(), int(found.group(1))))
            quoting.placeholder()
            i = found.end()
            continue
        if rendered[i] == "\x00":
            raise SecurityError("a command cannot hold a NUL byte")
        step = quoting.advance(rendered, i)
        out.append(rendered[i : i + step])
        i += step
    env = {f"{ENV_PREFIX}{n}": value for n, value in enumerate(collected.values)}
    return ShellCommand(text="".join(out), env=env)


def _reference(place: Place, number: int) -> str:
    """How a value is referred to where its placeholder stands: always exactly one word."""
    ref = "${" + f"{ENV_PREFIX}{number}" + "}"
    if place.kind in (DOUBLE, HEREDOC) and not place.quoted:
        return ref  # expanded, and neither split nor globbed, where it stands
    if place.kind == SINGLE:
        return f"'\"{ref}\"'"
    if place.kind == COMMENT:
        return ""  # a comment: the value goes nowhere
    if place.kind == HEREDOC:
        raise SecurityError(
            "a value cannot go into a quoted here-document (<<'EOF'): the shell would not "
            "expand it; quote nothing (<<EOF) or pass it another way"
        )
    if place.kind == EVALUATED:
        raise SecurityError(
            "a value cannot go inside $(( )), (( )), $[ ], [[ ]] or let: the shell would "
            "evaluate it as code; compare it with [ ] or test instead"
        )
    return f'"{ref}"'
