"""Secrets that cannot leak by being printed, logged or serialised."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
    """A connection URL whose password is masked but whose host stays readable.

    At 3 a.m. the responder needs to see *which* database a command targets; only the
    password is secret.
    """

    __slots__ = ()

    def masked(self) -> str:
        parts = urlsplit(self._value)
        if not parts.password:
            return self._value
        user = parts.username or ""
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        netloc = f"{user}:{MASK}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def secret_parts(self) -> list[str]:
        password = urlsplit(self._value).password
        return [password] if password else []


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of every secret value in `text` with `***`."""
    # Longest first, so a secret that contains another is masked whole.
    for value in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def mask_value(value: Any, secrets: Iterable[str]) -> Any:
    """`mask_text` through dicts and lists, for records stored as JSON."""
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, dict):
        return {str(k): mask_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v, secrets) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask_text(str(value), secrets)


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
