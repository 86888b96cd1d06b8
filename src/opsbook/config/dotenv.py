""".env beside opsbook.yaml: `NAME=value` lines read as data, never as shell.

A .env file is where secrets land on a first run, and it is often copied from a chat or
a password manager, so nothing in it is run or expanded: `$(rm -rf /)`, backticks,
`${OTHER}` and `; rm` are the value's characters. The format is the common subset of
docker compose's and python-dotenv's: comments, blank lines, an optional `export `,
single quotes (verbatim) and double quotes (`\\"`, `\\\\`, `\\n`, `\\t` escapes). Anything
else is an error naming the file and line, and the error never repeats the value.
"""

from __future__ import annotations

import re
from pathlib import Path

from opsbook.config.errors import ConfigError, ConfigIssue

ENV_FILE = ".env"
# A .env holds a few dozen lines; a bigger file is a mistake (a dump, a binary).
MAX_ENV_FILE_BYTES = 1 << 20

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# C0 controls but tab, DEL, C1 controls: a NUL cannot go into an environment variable,
# and an escape sequence in a secret is a paste gone wrong.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


class _Bad(Exception):
    def __init__(self, column: int, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def env_file_beside(config_path: Path) -> Path:
    return config_path.parent / ENV_FILE


def read_env_file(path: Path) -> dict[str, str]:
    """The variables a .env file sets ({} when there is none), or ConfigError listing
    every bad line."""
    label = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_ENV_FILE_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError([ConfigIssue(label, 1, 1, "", f"cannot read: {exc.strerror}")]) from None
    if len(raw) > MAX_ENV_FILE_BYTES:
        raise ConfigError(
            [ConfigIssue(label, 1, 1, "", "larger than 1 MiB: a .env holds NAME=value lines")]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError([ConfigIssue(label, line, 1, "", "not UTF-8 text")]) from None
    return parse_env_text(text.removeprefix("\ufeff"), file=label)


def parse_env_text(text: str, *, file: str) -> dict[str, str]:
    values: dict[str, str] = {}
    first: dict[str, int] = {}
    issues: list[ConfigIssue] = []
    for number, line in enumerate(text.split("\n"), start=1):
        try:
            parsed = _parse_line(line.removesuffix("\r"))
        except _Bad as bad:
            issues.append(ConfigIssue(file, number, bad.column, "", bad.message))
            continue
        if parsed is None:
            continue
        name, value = parsed
        if name in first:
            issues.append(
                ConfigIssue(
                    file, number, 1, "", f"{name} is set twice (first on line {first[name]})"
                )
            )
            continue
        first[name] = number
        values[name] = value
    if issues:
        raise ConfigError(issues)
    return values


def _parse_line(line: str) -> tuple[str, str] | None:
    control = _CONTROL.search(line)
    if control is not None:
        raise _Bad(
            control.start() + 1,
            f"control character U+{ord(control.group()):04X} is not allowed in a .env line",
        )
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    body = stripped.removeprefix("export ").lstrip() if stripped.startswith("export ") else stripped
    offset = len(line) - len(line.lstrip()) + (len(stripped) - len(body))
    name, equals, rest = body.partition("=")
    if not equals:
        raise _Bad(offset + 1, "expected NAME=value (there is no '=' on this line)")
    if not _NAME.fullmatch(name.strip()):
        raise _Bad(
            offset + 1,
            "the name before '=' must be letters, digits and _, not starting with a digit",
        )
    value_at = offset + len(name) + 2 + (len(rest) - len(rest.lstrip()))
    return name.strip(), _value(rest.strip(), value_at)


def _value(text: str, column: int) -> str:
    if text[:1] == "'":
        end = text.find("'", 1)
        if end < 0:
            raise _Bad(column, "the quote is not closed on this line (a value is one line)")
        _after_quote(text[end + 1 :], column + end + 1)
        return text[1:end]
    if text[:1] == '"':
        return _double_quoted(text, column)
    # Unquoted: a ` #` starts a comment, as in docker compose.
    comment = re.search(r"\s#", text)
    return text[: comment.start()].rstrip() if comment else text


def _double_quoted(text: str, column: int) -> str:
    out: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == '"':
            _after_quote(text[index + 1 :], column + index + 1)
            return "".join(out)
        if char == "\\" and index + 1 < len(text) and text[index + 1] in _ESCAPES:
            out.append(_ESCAPES[text[index + 1]])
            index += 2
            continue
        out.append(char)
        index += 1
    raise _Bad(column, "the quote is not closed on this line (a value is one line)")


def _after_quote(rest: str, column: int) -> None:
    tail = rest.strip()
    if tail and not tail.startswith("#"):
        raise _Bad(column, "text after the closing quote (quote the whole value)")
