"""A command group that imports a subcommand's module only when that subcommand runs.

Importing every domain's CLI module for every command cost about a second (SQLAlchemy,
the web stack, the sandbox app, aiohttp), `--help` included. Here each subcommand is a
name, its one-line help and where its code lives; the code is imported when the command
(or its own `--help`) is invoked. The group's help lists every name from the registry,
so `opsbook --help` imports nothing, and typo suggestions see every name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
import typer.main
from typer import _click as click  # typer vendors click; not re-exported
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Lazy:
    """A subcommand not imported yet. `target` is "module:attribute", a Typer app (mounted
    as a group) or a command's function; `build` makes the Typer app where one is composed
    of several modules. `help` is what `--help` lists: the first paragraph of the real
    command's help (a test keeps them equal)."""

    help: str
    target: str = ""
    build: Callable[[], typer.Typer] | None = None

    def load(self, name: str) -> click.Command:
        """The real click command, as `add_typer`/`command` on the root would make it."""
        found: Any = self.build() if self.build is not None else _attribute(self.target)
        parent = typer.Typer()
        parent.callback()(_nothing)  # a callback keeps the parent a group of one
        if isinstance(found, typer.Typer):
            parent.add_typer(found, name=name)
        else:
            parent.command(name)(found)
        group = typer.main.get_command(parent)
        assert isinstance(group, TyperGroup)
        return group.commands[name]


def _nothing() -> None:
    pass


def _attribute(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


class LazyCommands(MutableMapping[str, click.Command]):
    """The group's commands: the real ones typer gave, then the registry's, each loaded
    (once) the first time it is looked up."""

    def __init__(
        self,
        real: MutableMapping[str, click.Command],
        lazy: dict[str, Lazy],
        prepare: Callable[[click.Command], None],
    ) -> None:
        self._loaded: dict[str, click.Command] = dict(real)
        self._lazy = {name: entry for name, entry in lazy.items() if name not in real}
        self._prepare = prepare  # given each command once, real or loaded
        for command in self._loaded.values():
            prepare(command)

    def loaded(self, name: str) -> bool:
        return name in self._loaded

    def help(self, name: str) -> str:
        return self._lazy[name].help

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            command = self._lazy[name].load(name)  # KeyError: no such command
            self._prepare(command)
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self._loaded.pop(name, None)
        self._lazy.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self._loaded
        yield from (name for name in self._lazy if name not in self._loaded)

    def __len__(self) -> int:
        return len(set(self._loaded) | set(self._lazy))


class LazyGroup(TyperGroup):
    """A TyperGroup whose subclass names its lazy subcommands in `lazy`."""

    lazy: ClassVar[dict[str, Lazy]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(self.commands, self.lazy, self.prepare)
        self._listing = False

    def prepare(self, command: click.Command) -> None:
        """What a subclass does to each subcommand once, as it is loaded."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        commands = self.commands
        if self._listing and isinstance(commands, LazyCommands) and not commands.loaded(cmd_name):
            # Listed in the group's help: the registry's line stands in for the command.
            return TyperCommand(name=cmd_name, help=commands.help(cmd_name))
        return commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # the names only: typer's own reads every command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command with its whole first paragraph, wrapped: click would cut it at
        one line ("Run checks once (all, or the named ones) and store what...")."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, (command.help or "").split("\n\n")[0].strip()))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's plain help, not typer's Rich panels: those import Rich's Markdown,
        Syntax and Traceback (about half of `opsbook --help`'s time) to list names."""
        self._listing, markup = True, self.rich_markup_mode
        self.rich_markup_mode = None
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing, self.rich_markup_mode = False, markup
