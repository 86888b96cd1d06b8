"""Split a SQL script into statements the way psql would, minding quotes and $$ bodies.

Needed to record Supabase's `schema_migrations.statements text[]` faithfully and, later,
to apply migration files one statement at a time.
"""

from __future__ import annotations

import re

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def split_statements(script: str) -> list[str]:
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        if script.startswith("--", i):
            end = script.find("\n", i)
            end = n if end == -1 else end
            buf.append(script[i:end])
            i = end
        elif script.startswith("/*", i):
            end = script.find("*/", i + 2)
            end = n if end == -1 else end + 2
            buf.append(script[i:end])
            i = end
        elif ch in ("'", '"'):
            end = i + 1
            while end < n:
                if script[end] == ch:
                    if end + 1 < n and script[end + 1] == ch:  # doubled quote escapes itself
                        end += 2
                        continue
                    break
                end += 1
            buf.append(script[i : end + 1])
            i = end + 1
        elif ch == "$" and (match := _DOLLAR.match(script, i)):
            tag = match.group(0)
            end = script.find(tag, match.end())
            end = n if end == -1 else end + len(tag)
            buf.append(script[i:end])
            i = end
        elif ch == ";":
            _flush(buf, statements)
            buf = []
            i += 1
        else:
            buf.append(ch)
            i += 1
    _flush(buf, statements)
    return statements


def _flush(buf: list[str], out: list[str]) -> None:
    text = "".join(buf).strip()
    if text and not all(
        line.strip().startswith("--") or not line.strip() for line in text.splitlines()
    ):
        out.append(text)
