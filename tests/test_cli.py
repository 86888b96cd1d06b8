"""The command tree: every group listed, every command with --help and an example."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from opsbook.cli import app

runner = CliRunner()


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            found.extend(_commands(command, path))
        else:
            found.append(path)
    return found


def test_top_level_help_lists_the_groups() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("init", "demo", "config", "store", "audit", "sandbox"):
        assert group in result.output


def test_every_command_has_help_with_an_example() -> None:
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert len(commands) >= 10
    for path in commands:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Example: opsbook" in result.output, path


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.output.startswith("opsbook ")


def test_error_messages_are_text_not_markup(tmp_path, monkeypatch) -> None:
    """An error quoting what a user typed prints it as typed: '[/]' is not a Rich tag."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSBOOK_CONFIG", raising=False)
    result = runner.invoke(app, ["runbook", "show", "[/]"])
    assert result.exit_code == 2, result.output
    assert "'[/]'" in result.output
