"""YAML read with positions: every value keeps the line and column it came from.

PyYAML's safe loader forgets where a value was; a config error that cannot say
`opsbook.yaml:14:7` sends a tired responder hunting. We compose the node graph and
build plain Python values alongside a path -> position table.

Every opsbook.yaml and runbook goes through here, so here is also where YAML that
would crash or exhaust the machine is refused, located, before anything is built:
control characters, nesting deeper than MAX_DEPTH, an alias inside its own anchor
(`&r [*r]`), and aliases that repeat more than ALIAS_BUDGET values (a "billion
laughs" file of a few hundred bytes that expands to a billion values).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import yaml

from opsbook.config.errors import ConfigIssue, shown

Path = tuple[str | int, ...]

# Deeper than any config or runbook needs, and far from Python's recursion limit
# (PyYAML composes recursively).
MAX_DEPTH = 50
# Values aliases may repeat in one file, beyond those written out: anchors for shared
# defaults stay cheap, and the budget grows with a large file (it may repeat as many
# values as it writes), so memory stays within a small multiple of the file's own size.
ALIAS_BUDGET = 10_000

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Reference:
    """One `${VAR}` written in a value: where, and what the environment made of it
    (`unset`; `empty`: set to "" with no default; `default`: the default was used)."""

    path: Path
    name: str
    default: str | None
    line: int
    column: int
    state: Literal["set", "default", "empty", "unset"]


@dataclass
class Located:
    """A parsed document and where each of its values (and keys) stood."""

    file: str
    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)
    # Every `${VAR}` the values use, in the order written; whoever loads the document
    # decides what an unset one means (config/unset.py).
    references: list[Reference] = field(default_factory=list)

    def position(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The closest known position for `path`, walking up to its parents."""
        table = self.keys if key else self.values
        probe = path
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def issue(self, path: Path, message: str, *, key: bool = False) -> ConfigIssue:
        line, column = self.position(path, key=key)
        return ConfigIssue(self.file, line, column, format_path(path), message)


def child(node: Any, part: str | int) -> Any:
    """The value under `part` in built data (a mapping's key, a list's index), or None."""
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def value_at(data: Any, path: Path) -> Any:
    for part in path:
        data = child(data, part)
    return data


def format_path(path: Path) -> str:
    """`('checks', 2, 'interval')` -> `checks[2].interval`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


Use = tuple[str, str | None, Literal["set", "default", "empty", "unset"]]


def interpolate(text: str, env: Mapping[str, str], uses: list[Use]) -> str:
    """Expand `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`. Each reference is
    noted in `uses` as (name, default, state); an unset one expands to ""."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                uses.append((name, None, "unset"))
                return ""
            uses.append((name, default, "default"))
            return default
        uses.append((name, default, "empty" if value == "" else "set"))
        return value

    return _VAR.sub(sub, text)


class _Refused(Exception):
    """YAML that parses but must not be expanded; says where and why."""

    def __init__(self, mark: yaml.Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing while it composes (cheap: the graph is as small as the
    text) what would recurse forever or blow up once built (the tree aliases expand to)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0
        self.written = 0
        # Values each composed node stands for once its aliases are expanded.
        self.expanded: dict[int, int] = {}
        # Each alias used: where, its name, and how many values it repeats.
        self.aliases: list[tuple[yaml.Mark, str, int]] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            self._note_alias(self._upcoming())
            return cast(yaml.Node, super().compose_node(parent, index))
        if self.depth >= MAX_DEPTH:
            raise _Refused(self._upcoming().start_mark, f"nested more than {MAX_DEPTH} levels deep")
        self.depth += 1
        try:
            node = cast(yaml.Node, super().compose_node(parent, index))
        finally:
            self.depth -= 1
        self.written += 1
        self.expanded[id(node)] = 1 + sum(self.expanded[id(c)] for c in _children(node))
        return node

    def _upcoming(self) -> Any:
        return self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML

    def _note_alias(self, event: Any) -> None:
        target = self.anchors.get(event.anchor)
        if target is None:
            return  # PyYAML reports the undefined alias
        if id(target) not in self.expanded:  # its anchor is still being composed
            raise _Refused(
                event.start_mark,
                f"alias *{event.anchor} is inside its own anchor &{event.anchor}"
                " (recursive YAML is not allowed)",
            )
        self.aliases.append((event.start_mark, event.anchor, self.expanded[id(target)]))

    def check_expansion(self) -> None:
        """Refuse, at the alias that crosses it, a document whose aliases repeat more
        values than the budget (see ALIAS_BUDGET)."""
        budget = max(ALIAS_BUDGET, self.written)
        repeated = 0
        for mark, name, count in self.aliases:
            repeated += count
            if repeated > budget:
                raise _Refused(
                    mark,
                    f"alias *{name} takes the values aliases repeat past {budget:,}"
                    " (an alias bomb?); write the values out instead",
                )


def _check_characters(text: str, file: str) -> None:
    """Refuse NUL, BEL and every other character YAML forbids, located (PyYAML's own
    error has only an offset, and comes before any position is known)."""
    found = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if found is None:
        return
    at = found.start()
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    what = "control character" if ord(found.group()) < 0xA0 else "character"
    raise YamlSyntaxError(
        ConfigIssue(
            file,
            line,
            column,
            "",
            f"{what} U+{ord(found.group()):04X} is not allowed"
            " (only tab and line breaks may appear besides text)",
        )
    )


class _Builder:
    def __init__(self, file: str, text: str, env: Mapping[str, str] | None) -> None:
        self.file = file
        self.loader = _Loader(text)
        self.env = env
        self.located = Located(file, None)
        self.issues = self.located.issues

    def pos(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.located.values[path] = self.pos(node)
        if isinstance(node, yaml.MappingNode):
            return self.build_mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.scalar(node)
        if isinstance(value, str) and "$" in value and self.env is not None:
            uses: list[Use] = []
            value = interpolate(value, self.env, uses)
            line, column = self.pos(node)
            self.located.references.extend(
                Reference(path, name, default, line, column, state) for name, default, state in uses
            )
        return value

    def scalar(self, node: yaml.Node) -> Any:
        """The value of a scalar. One YAML cannot make a value of (a 5,000-digit integer,
        the date 2026-13-45) stays the text as written: the model then refuses it where
        a number or date is wanted, with its place, instead of PyYAML crashing."""
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError):
            return str(node.value)

    def build_mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        self.loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node)
            if not isinstance(key, str | int):
                line, column = self.pos(key_node)
                self.issues.append(
                    ConfigIssue(
                        self.file, line, column, format_path(path), f"key {shown(key)} must be text"
                    )
                )
                continue
            child: Path = (*path, key)
            if key in out:
                line, column = self.pos(key_node)
                first = self.located.keys[child][0]
                self.issues.append(
                    ConfigIssue(
                        self.file,
                        line,
                        column,
                        format_path(child),
                        f"key {key!r} appears twice (first on line {first})",
                    )
                )
                continue
            self.located.keys[child] = self.pos(key_node)
            out[key] = self.build(value_node, child)
        return out


def load_yaml(
    text: str, *, file: str, env: Mapping[str, str] | None = None, expand: bool = True
) -> Located:
    """Parse YAML text into a Located document.

    Problems that still leave a usable tree (a duplicate key) are collected in `issues`
    so that all of them are reported at once; the caller must refuse the document when
    there are any. Every `${VAR}` is noted in `references`, unset ones too: what an
    unset one means is the caller's to say. A syntax error raises YamlSyntaxError.
    """
    if not expand:
        source_env: Mapping[str, str] | None = None  # runbooks keep `$VAR` for their shell
    else:
        source_env = os.environ if env is None else env
    _check_characters(text, file)
    builder = _Builder(file, text, source_env)
    try:
        root = builder.loader.get_single_node()
        builder.loader.check_expansion()
        builder.located.data = None if root is None else builder.build(root, ())
    except _Refused as exc:
        line, column = exc.mark.line + 1, exc.mark.column + 1
        raise YamlSyntaxError(ConfigIssue(file, line, column, "", exc.message)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        raise YamlSyntaxError(
            ConfigIssue(file, line, column, "", f"YAML syntax error: {problem}")
        ) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(ConfigIssue(file, 1, 1, "", f"YAML error: {exc}")) from None
    finally:
        builder.loader.dispose()
    return builder.located


class YamlSyntaxError(Exception):
    def __init__(self, issue: ConfigIssue) -> None:
        self.issue = issue
        super().__init__(str(issue))
