"""Shell commands whose templated values are data: passed by environment, never as text."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2.exceptions import SecurityError

from opsbook.expressions.core import bounded, render_text
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
