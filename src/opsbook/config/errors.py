"""Config errors that point at the exact place a human has to fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_SHOWN = 40


def shown(value: Any) -> str:
    """A value as written (repr), cut short: an error line must stay one line even when
    the value is a 4,000-digit number or a pasted paragraph."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


@dataclass(frozen=True)
class ConfigIssue:
    """One thing wrong with a config file, located as an editor would show it (1-based)."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """Raised instead of returning a half-loaded config; carries every issue found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        # One issue per place and field: a value that fits no member of a union
        # (`status: 200` or `[200, 204]`) fails each of them, and the first says it.
        first = {(i.file, i.line, i.column, i.path): i for i in reversed(issues)}
        self.issues = sorted(first.values(), key=lambda i: (i.file, i.line, i.column))
        super().__init__("\n".join(str(i) for i in self.issues))
