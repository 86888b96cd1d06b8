"""Why an operation on the target database did not go ahead, in the domain's words.

Two doors show these texts: the CLI and a runbook step. A runbook author never typed
`--table`, so the text speaks of "the table" and "the referencing rows". Where it names
one of the operation's inputs, that name is a `Named` part, and each door may say it the
way its user wrote it: the CLI as its flag (`--to 'x.y' is not a table name`), a runbook
as its `with:` key. Said with no names, the text is the domain's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Named:
    """An input of the operation where a text names it: `field` is the service function's
    keyword, `words` how the domain says it."""

    field: str
    words: str


@dataclass(frozen=True)
class Wording:
    """A text whose inputs are `Named` parts, said by each door in its own words."""

    parts: tuple[str | Named, ...]

    def say(self, names: Mapping[str, str] | None = None) -> str:
        """The text, each named input as `names` says it, else in the domain's words."""
        given = names or {}
        return "".join(
            part if isinstance(part, str) else given.get(part.field, part.words)
            for part in self.parts
        )

    def __str__(self) -> str:
        return self.say()


class PostgresError(Exception):
    """The operation cannot go ahead as asked; nothing was changed."""

    def __init__(self, *parts: str | Named) -> None:
        self.wording = Wording(parts)
        super().__init__(self.wording.say())

    def text(self, names: Mapping[str, str] | None = None) -> str:
        """The message, with the operation's inputs named as `names` says them."""
        return self.wording.say(names)


class Unreachable(PostgresError):
    """The target database did not accept a connection (the reason has secrets masked)."""


class Stopped(PostgresError):
    """The operation started and stopped part-way: what it did is kept and audited."""
