"""Find, read and validate opsbook.yaml; a bad file never half-loads."""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from opsbook.config.errors import ConfigError, ConfigIssue
from opsbook.config.models import Config
from opsbook.config.source import Located, YamlSyntaxError, load_yaml
from opsbook.config.source import Path as DocPath

CONFIG_NAMES = ("opsbook.yaml", "opsbook.yml")
ENV_VAR = "OPSBOOK_CONFIG"


def find_config(explicit: str | Path | None = None, *, cwd: Path | None = None) -> Path | None:
    """`--config`, then `$OPSBOOK_CONFIG`, then opsbook.yaml in the working directory."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    here = cwd or Path.cwd()
    for name in CONFIG_NAMES:
        if (here / name).is_file():
            return here / name
    return None


def load_config(path: Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate one file, or raise ConfigError listing every problem in it."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(label, 1, 1, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(label, 1, 1, "", f"cannot read: {exc}")]) from None
    config = parse_config(text, file=label, env=env)
    config._source = path.resolve()
    return config


def parse_config(text: str, *, file: str, env: Mapping[str, str] | None = None) -> Config:
    try:
        doc = load_yaml(text, file=file, env=env)
    except YamlSyntaxError as exc:
        raise ConfigError([exc.issue]) from None
    if doc.data is None:
        raise ConfigError(
            [ConfigIssue(file, 1, 1, "", "the file is empty (run `opsbook init` for a starter)")]
        )
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.issue((), "the top level must be a mapping of sections")])
    issues = list(doc.issues)
    try:
        config = Config.model_validate(doc.data)
    except ValidationError as exc:
        issues.extend(_explain(doc, error) for error in exc.errors())
        raise ConfigError(issues) from None
    issues.extend(_cross_checks(doc, config))
    if issues:
        raise ConfigError(issues)
    return config


# --- turning pydantic's errors into located, human sentences -----------------------------


def _explain(doc: Located, error: Any) -> ConfigIssue:
    loc = _data_path(doc.data, tuple(error["loc"]))
    kind = error["type"]
    on_key = "[key]" in error["loc"]
    given = error.get("input")
    if kind == "extra_forbidden":
        key = loc[-1]
        allowed = _allowed_keys(Config, tuple(error["loc"])[:-1])
        hint = _did_you_mean(str(key), allowed)
        return doc.issue(loc, f"unknown key {key!r}{hint}", key=True)
    if kind == "missing":
        return doc.issue(loc[:-1], f"missing required key {loc[-1]!r}")
    if kind == "union_tag_invalid":
        tag = error["ctx"]["tag"]
        expected = [t.strip(" '") for t in error["ctx"]["expected_tags"].split(",")]
        hint = _did_you_mean(str(tag), expected)
        return doc.issue((*loc, "kind"), f"kind {tag!r} is not one of {', '.join(expected)}{hint}")
    if kind == "union_tag_not_found":
        return doc.issue(loc, "missing required key 'kind'")
    if kind == "literal_error":
        expected = error["ctx"]["expected"].replace("'", "")
        return doc.issue(loc, f"{given!r} is not one of {expected}", key=on_key)
    if kind.startswith("int_"):
        return doc.issue(loc, f"{given!r} is not a whole number")
    if kind.startswith("float_"):
        return doc.issue(loc, f"{given!r} is not a number")
    if kind.startswith("bool_"):
        return doc.issue(loc, f"{given!r} is not true or false")
    if kind in ("string_type",):
        return doc.issue(loc, f"expected text, got {_type_name(given)}")
    if kind in ("list_type",):
        return doc.issue(loc, f"expected a list, got {_type_name(given)}")
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return doc.issue(loc, f"expected a mapping, got {_type_name(given)}")
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return doc.issue(loc, message[:1].lower() + message[1:] if kind != "duration" else message)


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    return repr(value)


def _data_path(data: Any, loc: tuple[Any, ...]) -> DocPath:
    """Map pydantic's loc onto the document: drop union tags (`checks.2.http.url`) and
    the `[key]` marker of dict-key errors."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, dict) and part not in node and node.get("kind") == part:
            continue  # the tag of a discriminated union, not a key of the document
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at `loc` may hold, for did-you-mean hints."""
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or name for name, f in annotation.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _step(annotation: Any, part: Any) -> Any:
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    if origin in (list, tuple):
        return typing.get_args(annotation)[0] if isinstance(part, int) else None
    if origin is dict:
        return typing.get_args(annotation)[1]
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            option = _unwrap(option)
            if isinstance(option, type) and issubclass(option, BaseModel):
                kind = option.model_fields.get("kind")
                if kind is not None and part in typing.get_args(kind.annotation):
                    return option
        # Optional[X]: step into the non-None member.
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _step(members[0], part) if len(members) == 1 else None
    return None


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- checks that span several fields ------------------------------------------------------


def _cross_checks(doc: Located, config: Config) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for section, items in (
        (("checks",), config.checks),
        (("alerts", "rules"), config.alerts.rules),
        (("notify", "channels"), config.notify.channels),
    ):
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            path = (*section, index, "name")
            if item.name in first:
                line = doc.position((*section, first[item.name], "name"))[0]
                issues.append(
                    doc.issue(path, f"duplicate name {item.name!r} (first used on line {line})")
                )
            else:
                first[item.name] = index
    channel_names = [c.name for c in config.notify.channels]
    for severity, names in config.notify.routing.items():
        for index, name in enumerate(names):
            if name not in channel_names:
                hint = _did_you_mean(name, channel_names)
                issues.append(
                    doc.issue(
                        ("notify", "routing", severity, index), f"no channel named {name!r}{hint}"
                    )
                )
    return issues
