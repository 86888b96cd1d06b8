"""Turn pydantic's validation errors into located, human sentences, for any YAML model."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel

from opsbook.config.errors import ConfigIssue, shown
from opsbook.config.source import Located, child
from opsbook.config.source import Path as DocPath


def explain_error(doc: Located, error: Any, root: type[BaseModel]) -> ConfigIssue:
    """A pydantic error as a located sentence a tired human can act on."""
    loc = _data_path(doc.data, tuple(error["loc"]))
    kind = error["type"]
    on_key = "[key]" in error["loc"]
    given = error.get("input")
    if kind == "extra_forbidden":
        key = loc[-1]
        allowed = _allowed_keys(root, tuple(error["loc"])[:-1])
        hint = did_you_mean(str(key), allowed)
        return doc.issue(loc, f"unknown key {key!r}{hint}", key=True)
    if kind == "missing":
        return doc.issue(loc[:-1], f"missing required key {loc[-1]!r}")
    if kind == "union_tag_invalid":
        tag = error["ctx"]["tag"]
        expected = [t.strip(" '") for t in error["ctx"]["expected_tags"].split(",")]
        hint = did_you_mean(str(tag), expected)
        return doc.issue((*loc, "kind"), f"kind {tag!r} is not one of {', '.join(expected)}{hint}")
    if kind == "union_tag_not_found":
        return doc.issue(loc, "missing required key 'kind'")
    if kind == "literal_error":
        expected = error["ctx"]["expected"].replace("'", "")
        return doc.issue(loc, f"{shown(given)} is not one of {expected}", key=on_key)
    if kind in _RANGE:
        word, key = _RANGE[kind]
        return doc.issue(
            loc, f"{shown(given)} is out of range: it must be {word} {error['ctx'][key]}"
        )
    if kind == "finite_number":
        return doc.issue(loc, f"{shown(given)} is not a finite number")
    if kind.startswith("int_"):
        return doc.issue(loc, f"{shown(given)} is not a whole number")
    if kind.startswith("float_"):
        return doc.issue(loc, f"{shown(given)} is not a number")
    if kind.startswith("bool_"):
        return doc.issue(loc, f"{shown(given)} is not true or false")
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


_RANGE = {
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("more than", "gt"),
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
}


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
    """Map pydantic's loc onto the document: drop union tags (`checks.2.http.url`), the
    member names of plain unions (`status.int`: a number has no keys) and the `[key]`
    marker of dict-key errors."""
    out: list[str | int] = []
    node = data
    tagged: Any = None  # the mapping whose union tag loc has passed
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, dict) and node is not tagged and node.get("kind") == part:
            # The tag of a discriminated union comes first, then the mapping's own keys,
            # one of which may be spelled like the tag (a `command` check's `command`).
            tagged = node
            continue
        if isinstance(part, str) and node is not None and not isinstance(node, dict):
            continue
        out.append(part)
        node = child(node, part)
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


def duplicate_names(doc: Located, section: DocPath, names: list[str]) -> list[ConfigIssue]:
    """An issue at each name in `section` (a list of mappings with `name`) used before."""
    first: dict[str, int] = {}
    issues = []
    for index, name in enumerate(names):
        if name in first:
            line = doc.position((*section, first[name], "name"))[0]
            issues.append(
                doc.issue(
                    (*section, index, "name"),
                    f"duplicate name {name!r} (first used on line {line})",
                )
            )
        else:
            first[name] = index
    return issues


def did_you_mean(word: str, choices: list[str]) -> str:
    """` (did you mean 'x'?)` when a close match exists, else nothing."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def annotation_at(root: type[BaseModel], data: Any, path: DocPath) -> Any:
    """The type the model declares for the value at a document path (None when the path
    leaves the schema); a discriminated union is read by the mapping's own `kind`."""
    annotation: Any = root
    node = data
    for part in path:
        kind = node.get("kind") if isinstance(node, dict) else None
        if isinstance(kind, str) and typing.get_origin(_unwrap(annotation)) in _UNIONS:
            annotation = _step(annotation, kind) or annotation
        annotation = _step(annotation, part)
        if annotation is None:
            return None
        node = child(node, part)
    return annotation


_UNIONS = (typing.Union, types.UnionType)
