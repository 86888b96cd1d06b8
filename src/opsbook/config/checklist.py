"""`deploy.checklist`: how `opsbook deploy check` learns the seed's pre-deployment items
that a machine can check.

"All tests passing on main" is either a command (an argument list run without a shell,
`{commit}` replaced inside single arguments) or a CI status URL answering GitHub's
combined status document (`{commit}` in the URL, likewise). "Database migrations applied"
reads the folder `db migrations status` reads. The rest of the seed's list needs no
setting: staging is judged from the deploy records, feature flags by a person, and the
team is told in `deploy.channel`."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, field_validator, model_validator

from opsbook.config.base import Model
from opsbook.config.durations import Timeout, format_duration
from opsbook.config.errors import shown
from opsbook.config.secrets import Secret, private_channel

COMMIT = "{commit}"


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError(f"{shown(text)} holds a NUL character")
    return text


_Argument = Annotated[
    str, StringConstraints(min_length=1, max_length=4096), AfterValidator(_no_nul)
]
# Longest a command may run, or a CI status request wait: past that it is a typo.
_LONGEST = dt.timedelta(hours=6)
_COMMAND_TIMEOUT = dt.timedelta(minutes=10)
_REQUEST_TIMEOUT = dt.timedelta(seconds=10)


class TestsSettings(Model):
    """One way to learn whether the tests pass: `command` or `status_url`, not both."""

    command: Annotated[list[_Argument], Field(min_length=1, max_length=100)] | None = None
    status_url: str | None = None
    # Sent as `Authorization: Bearer ...` with status_url (GitHub wants one for a
    # private repository).
    token: Secret | None = None
    # How long the command may run (default 10m) or the CI may take to answer (10s).
    timeout: Timeout | None = None

    @field_validator("status_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(r"https?://[^\s\x00-\x1f\x7f]{1,1990}", url):
            raise ValueError(f"{shown(url)} is not an http(s) URL")
        return url

    @field_validator("timeout")
    @classmethod
    def _bounded(cls, span: dt.timedelta | None) -> dt.timedelta | None:
        if span is not None and span > _LONGEST:
            raise ValueError(f"{format_duration(span)} is longer than 6h")
        return span

    @model_validator(mode="after")
    def _one_way(self) -> TestsSettings:
        if (self.command is None) == (self.status_url is None):
            raise ValueError("give command (an argument list) or status_url, one of them")
        if self.token is not None and self.status_url is None:
            raise ValueError("token goes with status_url")
        if self.token is not None and self.status_url and not private_channel(self.status_url):
            raise ValueError("a token goes over https only (or to this machine): use https://")
        return self

    @property
    def limit(self) -> dt.timedelta:
        """The timeout, or its default for the way chosen."""
        if self.timeout is not None:
            return self.timeout
        return _COMMAND_TIMEOUT if self.command else _REQUEST_TIMEOUT


class ChecklistSettings(Model):
    tests: TestsSettings | None = None
    # The migrations folder (`<version>_<name>.sql`), relative to the config file.
    migrations: _Argument = "supabase/migrations"
