"""`deploy.provider`, `deploy.vercel`, `deploy.command`: how `opsbook deploy rollback`
puts a previous deployment back, and `deploy.channel`, where #deploys posts go.

`vercel` speaks Vercel's REST API with a token (FORMATS.md: list the project's READY
production deployments, promote one). `command` runs an argv list for any other
platform; `{deployment}` and `{commit}` are replaced inside single elements, so a
deployment id is one argument whatever it holds, never shell text."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from opsbook.config.base import Model
from opsbook.config.durations import Duration, Interval, Timeout, at_least, format_duration
from opsbook.config.errors import shown
from opsbook.config.secrets import Secret

PLACEHOLDERS = ("{deployment}", "{commit}")
_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
Word = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


def _http_url(text: str) -> str:
    if not re.fullmatch(r"https?://[^\s\x00-\x1f\x7f]{1,1990}", text):
        raise ValueError(f"{shown(text)} is not an http(s) URL")
    return text.rstrip("/")


class VercelSettings(Model):
    token: Secret
    project: str
    team: str | None = None
    api_url: str = "https://api.vercel.com"
    timeout: Timeout = dt.timedelta(seconds=10)  # one API request
    # `vercel promote` waits up to 3 minutes by default (FORMATS.md).
    wait: Interval = dt.timedelta(minutes=3)

    @field_validator("project", "team")
    @classmethod
    def _an_id(cls, value: str | None) -> str | None:
        if value is not None and not _ID.fullmatch(value):
            raise ValueError(f"{shown(value)} is not a Vercel id (letters, digits, _ and -)")
        return value

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)


class CommandSettings(Model):
    argv: Annotated[list[Word], Field(min_length=1, max_length=100)]
    timeout: Timeout = dt.timedelta(minutes=5)
    # How long after the command the app may take to serve the deployment.
    wait: Interval = dt.timedelta(minutes=3)

    @field_validator("argv")
    @classmethod
    def _names_the_deployment(cls, argv: list[str]) -> list[str]:
        if any("\x00" in word for word in argv):
            raise ValueError("an argument holds a NUL character")
        if not any(p in word for word in argv for p in PLACEHOLDERS):
            raise ValueError("name the deployment with {deployment} (or {commit}) in an argument")
        script = _inline_script(argv)
        if script is not None and any(p in script for p in PLACEHOLDERS):
            raise ValueError(
                f"{shown(script)} is a script {argv[0]} runs: a deployment id in it would be"
                " code; pass it as an argument after the script, e.g."
                " [sh, -c, 'promote \"$1\"', sh, '{deployment}']"
            )
        return argv


def _inline_script(argv: list[str]) -> str | None:
    """The script an interpreter is given inline (`sh -c SCRIPT`, `bash -lc SCRIPT`,
    `python -c`, `perl -e`, after an `env` and its settings), if any."""
    words = list(argv)
    while words and (Path(words[0]).name == "env" or "=" in words[0]):
        words.pop(0)
    if not words or not _INTERPRETER.fullmatch(Path(words[0]).name):
        return None
    for flag, following in itertools.pairwise(words[1:]):
        if re.fullmatch(r"-[A-Za-z]*[ce]|--command|--eval", flag):
            return following
    return None


_INTERPRETER = re.compile(
    r"(?:ba|da|z|k|a|fi|mk|c|tc|o)?sh|busybox|python[0-9.]*|perl[0-9.]*|ruby|node|php"
)

Provider = Literal["vercel", "command"]
# A heartbeat every quarter of lock_for: at least a second between beats.
LockFor = Annotated[Duration, at_least(dt.timedelta(seconds=4))]
LOCK_FOR_MAX = dt.timedelta(days=1)


class RollbackSettings(Model):
    """The rollback half of `deploy:`; DeployConfig inherits these keys."""

    provider: Provider | None = None
    vercel: VercelSettings | None = None
    command: CommandSettings | None = None
    channel: Annotated[str, StringConstraints(min_length=1, max_length=200)] = "#deploys"
    # A running rollback's heartbeat moves every quarter of this; one not heard from for
    # this long is taken for dead (its process was killed) and a new one may start.
    lock_for: LockFor = dt.timedelta(minutes=5)

    @field_validator("lock_for")
    @classmethod
    def _lock_for_at_most(cls, value: dt.timedelta) -> dt.timedelta:
        if value > LOCK_FOR_MAX:
            raise ValueError(
                f"{format_duration(value)} is too long: at most {format_duration(LOCK_FOR_MAX)}"
                " (a killed rollback keeps the env locked that long)"
            )
        return value

    @model_validator(mode="after")
    def _provider_has_its_section(self) -> RollbackSettings:
        if self.provider is not None and getattr(self, self.provider) is None:
            raise ValueError(f"provider {self.provider} needs a deploy.{self.provider} section")
        return self
