"""Secrets that cannot leak by being printed, logged or serialised."""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

MASK = "***"


class Secret:
    """A string whose every printable form is `***`; `reveal()` is the one way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def masked(self) -> str:
        return MASK if self._value else ""

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.masked()!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._value == self._value

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def secret_parts(self) -> list[str]:
        """The substrings that must never appear in output."""
        return [self._value] if self._value else []

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        from_str = core_schema.no_info_after_validator_function(cls, core_schema.str_schema())
        return core_schema.json_or_python_schema(
            json_schema=from_str,
            python_schema=core_schema.union_schema([core_schema.is_instance_schema(cls), from_str]),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: v.masked(), when_used="always"
            ),
        )


class SecretUrl(Secret):
    """A connection string whose password is masked but whose host stays readable.

    At 3 a.m. the responder needs to see *which* database a command targets; only the
    password is secret, in whichever form libpq accepts it: `postgresql://u:PW@h/db`,
    `postgresql://u@h/db?password=PW` or `host=h user=u password=PW`.
    """

    __slots__ = ()

    def masked(self) -> str:
        return mask_shapes(self._value)

    def secret_parts(self) -> list[str]:
        return passwords_in(self._value)


def is_set(secret: Secret | None) -> bool:
    """Whether a secret holds a value. A `${VAR}` left unset (or empty) in the environment
    and .env loads as an empty secret, and the feature holding it stays off (see
    `Config.off_reason`) rather than calling a service with no credential."""
    return secret is not None and bool(secret.reveal())


@dataclass(frozen=True)
class UnsetSecret:
    """One `${VAR}` the config reads that the environment and .env leave unset, and what
    it switches off: the feature at `section` named `name` (`notify.channels`
    "pagerduty", `checks` "database", or the `database` section itself)."""

    variable: str
    path: str  # where the reference is written: notify.channels[0].routing_key
    section: str
    name: str | None
    line: int
    column: int

    @property
    def reason(self) -> str:
        return f"{self.variable} is not set ({self.path})"


def private_channel(url: str) -> bool:
    """https, or plain http to this machine (a local stand-in): where a credential may go.
    Never one in the clear over a network."""
    host = urlsplit(url).hostname or ""
    return url.startswith("https://") or host in ("localhost", "127.0.0.1", "::1")


# Shapes that hold a secret whatever its value: a URL's password, a `password=` keyword
# or query parameter (libpq's keyword form and URL query), an Authorization credential.
# A URL's userinfo password runs to the last "@" before the host: libpq takes a raw "?"
# or "#" in it. A keyword may be percent-encoded in a URL query (`%70assword=`) or carry
# a prefix (`PGPASSWORD=`, `DB_PASSWORD=`, `sslpassword=`); its value may escape a space
# with a backslash (doubled inside an E'' literal: `E'password=a\\ b'`), or be quoted
# with doubled quotes inside a SQL literal (`'password=''a b'''`).
_URL_PASSWORD = re.compile(
    r"(?P<keep>\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)(?P<secret>[^@\s]*[^@\s/])(?=@)", re.I
)
_KEYWORD_PASSWORD = re.compile(
    r"(?P<keep>(?<![\w%])\w*?(?:(?:p|%70|%50)(?:a|%61|%41)(?:s|%73|%53)(?:s|%73|%53)"
    r"(?:w|%77|%57)(?:o|%6f|%4f)(?:r|%72|%52)(?:d|%64|%44)|passwd)\s*=\s*)"
    r"(?P<secret>''[^']*(?:'')?|'(?:[^'\\]|\\.)*'|(?:[^\s&'\"\\]|\\+.)+)",
    re.I,
)
_CREDENTIAL = re.compile(
    r"(?P<keep>\bBearer\s+|\bAuthorization:\s*[A-Za-z]+\s+)(?P<secret>[A-Za-z0-9._~+/=-]{8,})"
)
_SHAPES = (_URL_PASSWORD, _KEYWORD_PASSWORD, _CREDENTIAL)
# A password as a command line's argument (a COPY ... PROGRAM string, a check's command):
# curl's `-u user:password`, mysql's `-ppassword`. Only in a command of that program:
# `docker run -u 1000:1000` and `psql -p5432` hold none. A command ends at a newline,
# `;`, `|` or `&&`; each is looked at once (linear in the text).
_COMMAND = re.compile(r"(?:[^\n;|&]|&(?!&))+")
_COMMAND_SHAPES = (
    (
        re.compile(r"\bcurl\b"),
        re.compile(r"(?P<keep>(?<!\S)(?:-u|--user)(?:=|\s*)[^\s:'\"]*:)(?P<secret>[^\s'\"]+)"),
    ),
    (re.compile(r"\bmysql\w*"), re.compile(r"(?P<keep>(?<!\S)-p)(?P<secret>[^\s'\"]+)")),
)
_PROGRAM = re.compile(r"curl|mysql")
# Keys whose string values are secret, in stored inputs, headers and outputs.
_SECRET_KEY = re.compile(
    r"password|passwd|secret|token|authorization|api[_-]?key|routing[_-]?key|cookie"
    r"|private[_-]?key|credential",
    re.I,
)
# Environment variables whose names say they hold a secret.
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASS|DSN|WEBHOOK)", re.I)


def mask_shapes(text: str) -> str:
    """Mask every password and credential that text holds by its shape."""
    for shape in _SHAPES:
        text = shape.sub(_keep, text)
    if not _PROGRAM.search(text):
        return text
    return _COMMAND.sub(lambda m: _mask_command(m.group()), text)


def _keep(match: re.Match[str]) -> str:
    return match.group("keep") + MASK


def _mask_command(command: str) -> str:
    for program, shape in _COMMAND_SHAPES:
        if program.search(command):
            command = shape.sub(_keep, command)
    return command


def passwords_in(text: str) -> list[str]:
    """The secrets text holds by shape, as written and URL-decoded."""
    found: list[str] = []
    for shape in _SHAPES:
        for match in shape.finditer(text):
            value = match.group("secret").strip("'")
            found.extend({value, unquote(value), re.sub(r"\\(.)", r"\1", value)} - {""})
    return found


class Masker:
    """Every secret opsbook knows, masked in every output, record, timeline entry and log.

    It masks the known values (the config's secrets, secret runbook parameters, secret
    environment variables) wherever they appear, and the shapes that hold a secret
    whatever its value (see `mask_shapes`, and keys such as `Authorization` or `token`).
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self.values = sorted({v for v in values if v and v != MASK}, key=len, reverse=True)

    def extend(self, values: Iterable[str]) -> Masker:
        return Masker([*self.values, *values])

    def text(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, MASK)
        return mask_shapes(text)

    def value(self, value: Any) -> Any:
        """`text` through dicts and lists, for records stored as JSON."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                str(k): MASK
                if isinstance(v, str) and v and _SECRET_KEY.search(str(k))
                else self.value(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.text(str(value))


_active: contextvars.ContextVar[Masker | None] = contextvars.ContextVar("masker", default=None)
# The config's secrets, known to every thread of the process once the config is loaded:
# check results, alert text, incidents and logs are masked without being handed them.
_process: list[str] = []


def remember(values: Iterable[str]) -> None:
    """Add secrets every mask in this process knows from now on (the loaded config's)."""
    _process.extend(v for v in values if v and v not in _process)


@contextmanager
def masking(masker: Masker) -> Iterator[None]:
    """While user-supplied work runs (a runbook), every record written anywhere (timeline,
    audit) masks what this masker knows, without each writer being handed it."""
    token = _active.set(masker)
    try:
        yield
    finally:
        _active.reset(token)


def masker_with(secrets: Iterable[str] = ()) -> Masker:
    """What to mask here: these values, the running runbook's, and the process's."""
    active = _active.get()
    base = active.extend(_process) if active is not None else Masker(_process)
    return base.extend(secrets)


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every known secret value in `text`, and every secret shape, with `***`."""
    return masker_with(secrets).text(text)


def mask_value(value: Any, secrets: Iterable[str] = ()) -> Any:
    """`mask_text` through dicts and lists, for records stored as JSON."""
    return masker_with(secrets).value(value)


def secrets_of(config: Any) -> list[str]:
    """The config's secrets, plus environment (and .env) values whose names say they are
    secret."""
    found = collect_secrets(config)
    found.extend(getattr(config, "_env_file_secrets", ()))
    found.extend(secret_values(os.environ))
    return found


def secret_values(env: Mapping[str, str]) -> list[str]:
    """The values of variables whose names say they hold a secret (short ones would mask
    every `yes` and `1` in the output)."""
    return [value for name, value in env.items() if _SECRET_ENV.search(name) and len(value) >= 6]


def collect_secrets(obj: Any) -> list[str]:
    """Every secret value reachable inside a config object (models, lists, dicts)."""
    found: list[str] = []
    _walk(obj, found, set())
    return found


def _walk(obj: Any, found: list[str], seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, Secret):
        found.extend(obj.secret_parts())
    elif isinstance(obj, dict):
        for value in obj.values():
            _walk(value, found, seen)
    elif isinstance(obj, list | tuple | set | frozenset):
        for value in obj:
            _walk(value, found, seen)
    elif hasattr(obj, "__pydantic_fields__"):
        for name in type(obj).model_fields:
            _walk(getattr(obj, name), found, seen)
