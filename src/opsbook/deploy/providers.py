"""What a rollback provider is: it lists the deployments it could put back and promotes
one. `vercel` asks Vercel's API; `command` knows only the deploy records and runs the
configured command. Both fail with ProviderError in one line that never holds a secret."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Candidate:
    """A deployment a rollback may go to: the provider's id (and URL), and the commit it
    serves when known."""

    id: str
    url: str
    commit: str | None
    created: dt.datetime | None = None

    @property
    def label(self) -> str:
        return self.url or self.id


class ProviderError(RuntimeError):
    """The provider refused or failed; `acted` when it may have changed what is served
    (a promote accepted, a command that ran), so the rollback is recorded as failed."""

    def __init__(self, message: str, *, acted: bool = False) -> None:
        super().__init__(message)
        self.acted = acted


class Provider(Protocol):
    name: str

    async def deployments(self) -> list[Candidate]:
        """Deployments that could serve production, newest first."""
        ...

    async def promote(self, target: Candidate) -> str:
        """Ask for `target` to serve; returns what the provider said."""
        ...
