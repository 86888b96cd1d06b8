"""Query text read from the server (pg_stat_activity, pg_stat_statements) with the
passwords it may hold masked, before it is shown, logged, stored or printed as JSON.

pg_stat_statements normalizes constants only in planned statements: a utility command
(`ALTER ROLE app PASSWORD 'hunter2'`, `CREATE USER MAPPING ... OPTIONS (password '...')`)
is kept as typed, and pg_stat_activity shows whatever runs now. Both hand the literal to
anyone who may read the view. `mask_query` is the one function that masks it; every row
leaving the database goes through `masked_row`, every string of it: query text comes back
under any name (`left(query, 80)`, `query AS q`, `row_to_json(a)`, a user's `sql:` step).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from opsbook.config.secrets import MASK, mask_shapes
from opsbook.postgres.sql_tokens import COMMENT, LITERAL, QUOTED, SPACE, WORD, Token, tokens

# What names a password: the keyword (ALTER ROLE ... PASSWORD, a user mapping's
# OPTIONS (password '...')) or a column or option of that name, quoted or not.
_PASSWORD_NAME = re.compile(r'(?:password|passwd|"password"|"passwd")', re.IGNORECASE)
# A literal naming a password setting or key: set_config('app.password', '...'),
# jsonb_build_object('password', '...'). A name, not a sentence ('password reset sent').
_PASSWORD_KEY = re.compile(r"(?:[eEnN]|[uU]&)?'[\w.$-]*(?:password|passwd)'", re.IGNORECASE)
# What may stand between the name and its literal: `password = '...'`, `SET x.password TO`.
_ASSIGN = {"=", ":=", "=>", "to"}
_PAIR = {",", "=>"}


def mask_query(text: str) -> str:
    """`text` with every password literal masked: SQL's PASSWORD '...', and the shapes
    any text is masked for (a connection string's `password=`, a URL's password, a
    password on a command line run by COPY ... PROGRAM)."""
    if "assw" in text.lower():
        text = _mask_literals(text)
    return mask_shapes(text)


def masked_row(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with every string in it masked (inside arrays and JSON values too)."""
    return {key: _masked(value) for key, value in row.items()}


def _masked(value: Any) -> Any:
    """Strings masked through lists and dicts, iteratively: a JSON value nested as deep as
    the server allows must not exhaust Python's recursion limit."""
    if isinstance(value, str):
        return mask_query(value)
    if not isinstance(value, list | dict):
        return value
    top: list[Any] = [value]
    work: list[tuple[list[Any] | dict[Any, Any], list[Any] | dict[Any, Any]]] = [(top, top)]
    while work:
        source, target = work.pop()
        for key, item in list(source.items()) if isinstance(source, dict) else enumerate(source):
            if isinstance(item, str):
                target[key] = mask_query(item)
            elif isinstance(item, list | dict):
                copy: list[Any] | dict[Any, Any] = list(item) if isinstance(item, list) else {}
                target[key] = copy
                work.append((item, copy))
            else:
                target[key] = item
    return top[0]


def _mask_literals(text: str) -> str:
    """Each literal a password name leads to, masked whole (quotes included)."""
    code = [t for t in tokens(text) if t.kind not in (SPACE, COMMENT)]
    secret: list[Token] = []
    for at, token in enumerate(code):
        start = _secret_start(text, code, at, token)
        if start is not None:
            secret.extend(_continued(code, start))
    out, pos = [], 0
    for token in sorted(set(secret), key=lambda t: t.start):
        out += [text[pos : token.start], MASK]
        pos = token.end
    return "".join([*out, text[pos:]])


def _secret_start(text: str, code: Sequence[Token], at: int, token: Token) -> int | None:
    """Where the literal `token` names as a password stands in `code`, if it does."""
    word = text[token.start : token.end]
    if token.kind in (WORD, QUOTED) and _PASSWORD_NAME.fullmatch(word):
        at += 1
        if at < len(code) and _text(text, code[at]).lower() in _ASSIGN:
            at += 1
        # A function of the literal: password = crypt('...', gen_salt('bf')).
        if at + 1 < len(code) and code[at].kind == WORD and _text(text, code[at + 1]) == "(":
            at += 2
        return at if at < len(code) and code[at].kind == LITERAL else None
    if token.kind == LITERAL and _PASSWORD_KEY.fullmatch(word):
        pair = at + 1 < len(code) and _text(text, code[at + 1]) in _PAIR
        return at + 2 if pair and at + 2 < len(code) and code[at + 2].kind == LITERAL else None
    return None


def _continued(code: Sequence[Token], at: int) -> list[Token]:
    """The literal at `at` and the literals right after it: SQL joins string literals
    separated by whitespace holding a newline (`'a'` newline `'b'` is `'ab'`); without one
    the statement fails, and its text still shows in pg_stat_activity."""
    end = at + 1
    while end < len(code) and code[end].kind == LITERAL:
        end += 1
    return list(code[at:end])


def _text(text: str, token: Token) -> str:
    return text[token.start : token.end]
