"""The command tree: every group listed, every command with --help and an example."""

from __future__ import annotations

import inspect
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer._click import types as click_types  # typer vendors click; not re-exported
from typer.testing import CliRunner

from opsbook.cli import COMMANDS, app
from opsbook.config import parse_duration

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


# --- out-of-range input is refused with exit 2, one clear error, never a traceback -------

HUGE = "99999999999999999999"


def _params(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every parameter of every command, with the command's path."""
    found: list[tuple[tuple[str, ...], Any]] = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            found.extend(_params(command, path))
        found.extend((path, p) for p in command.params)
    return found


def _numeric(param: Any) -> bool:
    return isinstance(param.type, (click_types.IntParamType, click_types.FloatParamType))


def _refused(result: Any) -> None:
    """Exit 2, and an error the person can read, not a traceback."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSBOOK_CONFIG", raising=False)
    (tmp_path / "opsbook.yaml").write_text("store:\n  url: sqlite:///opsbook.db\n")
    return tmp_path


def test_every_number_option_has_a_bound_and_refuses_a_huge_value(workdir: Path) -> None:
    numeric = [(path, p) for path, p in _params(typer.main.get_command(app)) if _numeric(p)]
    assert len(numeric) >= 15
    for path, param in numeric:
        assert getattr(param.type, "max", None) is not None, (path, param.name)
        given = [*param.opts, HUGE] if param.opts[0].startswith("-") else [HUGE]
        result = runner.invoke(app, [*path, *given])
        _refused(result)
        said = " ".join(result.output.replace("│", " ").split())  # unwrap Rich's error panel
        assert "is not in the range" in said and f"x<={param.type.max}" in said, (path, param.name)


@pytest.mark.parametrize(
    "args",
    [
        ["incident", "show", HUGE],
        ["incident", "ack", HUGE],
        ["incident", "actions", "list", HUGE],
        ["incident", "actions", "done", "1", HUGE],
        ["runbook", "suggest", "--incident", HUGE],
        ["runbook", "run", "p1-db-connections", "--incident", HUGE, "--dry-run"],
        ["runbook", "run", "p1-db-connections", "--param", f"idle_minutes={HUGE}", "--dry-run"],
    ],
)
def test_ids_past_the_largest_there_can_be_are_refused(workdir: Path, args: list[str]) -> None:
    result = runner.invoke(app, args)
    _refused(result)
    assert f"'{HUGE}' is not" in result.output


# Every option that takes a duration, and the least it takes where zero means nothing.
DURATION_OPTIONS: dict[tuple[str, ...], dict[str, str | None]] = {
    ("history",): {"--since": "1s"},
    ("incident", "stats"): {"--since": "1s"},
    ("incident", "actions", "add", "1", "Fix it"): {"--due": None},
    ("db", "slow"): {"--min-duration": None},
    ("db", "idle"): {"--older-than": None},
    ("db", "archive"): {
        "--older-than": None,
        "--lock-timeout": "1ms",
        "--max-lag": None,
        "--pause": None,
    },
}


def test_the_table_names_every_duration_option() -> None:
    def takes_a_duration(param: Any) -> bool:
        try:
            parse_duration(str(param.default))
        except ValueError:
            return False
        return isinstance(param.type, click_types.StringParamType)

    found = {
        (path, p.opts[0]) for path, p in _params(typer.main.get_command(app)) if takes_a_duration(p)
    }
    listed = {
        (path[:2], option) for path, options in DURATION_OPTIONS.items() for option in options
    }
    assert found <= listed
    assert len(listed) == 9


@pytest.mark.parametrize(
    ("command", "option"),
    [(command, option) for command, options in DURATION_OPTIONS.items() for option in options],
)
def test_duration_options_refuse_99999y_and_too_short_naming_option_and_value(
    workdir: Path, command: tuple[str, ...], option: str
) -> None:
    result = runner.invoke(app, [*command, option, "99999y"])
    _refused(result)
    line = f"error: {option}: '99999y' is longer than 100y, the longest opsbook takes"
    assert result.output.strip() == line
    minimum = DURATION_OPTIONS[command][option]
    if minimum is not None:
        result = runner.invoke(app, [*command, option, "0s"])
        _refused(result)
        assert result.output.strip() == (
            f"error: {option}: '0s' is too short: it must be at least {minimum}"
        )


def test_error_messages_are_text_not_markup(tmp_path, monkeypatch) -> None:
    """An error quoting what a user typed prints it as typed: '[/]' is not a Rich tag."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSBOOK_CONFIG", raising=False)
    result = runner.invoke(app, ["runbook", "show", "[/]"])
    assert result.exit_code == 2, result.output
    assert "'[/]'" in result.output


# --- no config, no false all-clear (issue #17, items 2 and 6) ----------------------------------

NO_CONFIG = (
    "error: no opsbook.yaml here or in $OPSBOOK_CONFIG: pass --config FILE or run opsbook init"
)


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["incident", "list"],
        ["incident", "show", "1"],
        ["history"],
        ["audit", "verify"],
        ["runbook", "runs"],
        ["oncall", "now"],
    ],
)
def test_a_state_command_without_a_config_exits_2_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSBOOK_CONFIG", raising=False)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert " ".join(result.output.split()) == NO_CONFIG
    assert list(tmp_path.iterdir()) == []  # no opsbook.db


def test_init_and_help_need_no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSBOOK_CONFIG", raising=False)
    assert runner.invoke(app, ["status", "--help"]).exit_code == 0
    assert list(tmp_path.iterdir()) == []
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert (tmp_path / "opsbook.yaml").is_file()
    assert runner.invoke(app, ["status"]).exit_code == 0  # found here now


@pytest.mark.parametrize("option", ["--config", "-c", "--config="])
def test_config_after_the_command_is_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSBOOK_CONFIG", raising=False)
    config = tmp_path / "elsewhere" / "opsbook.yaml"
    config.parent.mkdir()
    config.write_text("store:\n  url: sqlite:///state.db\n")
    given = [option + str(config)] if option.endswith("=") else [option, str(config)]
    for command in (["status"], ["incident", "list"], ["incident", "actions"]):
        result = runner.invoke(app, [*command, *given])
        assert result.exit_code == 0, result.output
    assert "no check has run yet" in runner.invoke(app, ["status", *given]).output
    assert (config.parent / "state.db").is_file()  # the store the file names, nowhere else
    assert list(tmp_path.iterdir()) == [config.parent]


def test_config_after_the_command_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSBOOK_CONFIG", str(tmp_path / "missing.yaml"))
    config = tmp_path / "opsbook.yaml"
    config.write_text("store:\n  url: sqlite:///state.db\n")
    result = runner.invoke(app, ["incident", "list", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "no incidents" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["-c", "A.yaml", "status", "-c", "B.yaml"],
        ["--config", "A.yaml", "incident", "list", "--config=B.yaml"],
        ["status", "-c", "A.yaml", "-c", "B.yaml"],
        ["-c", "A.yaml", "db", "-c", "B.yaml", "idle"],
    ],
)
def test_config_given_twice_with_two_files_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSBOOK_CONFIG", raising=False)
    for name in ("A.yaml", "B.yaml"):
        (tmp_path / name).write_text(f"store:\n  url: sqlite:///{name}.db\n")
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.replace("│", " ").split())
    assert "--config given twice (A.yaml, B.yaml): give it once" in said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.yaml", "B.yaml"]  # no store


def test_config_given_twice_with_one_file_is_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSBOOK_CONFIG", raising=False)
    (tmp_path / "A.yaml").write_text("store:\n  url: sqlite:///state.db\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.yaml").symlink_to(tmp_path / "A.yaml")
    for again in ("A.yaml", str(tmp_path / "A.yaml"), "./A.yaml", "sub/../A.yaml", "link.yaml"):
        result = runner.invoke(app, ["-c", "A.yaml", "incident", "list", "-c", again])
        assert result.exit_code == 0, result.output
        assert "no incidents" in result.output


def test_config_given_twice_shows_hostile_paths_as_text(tmp_path: Path) -> None:
    hostile = "[bold]a[/bold] $(touch pwned); \x1b[2J\u202e.yaml"
    result = runner.invoke(app, ["-c", hostile, "status", "-c", "b.yaml"])
    assert result.exit_code == 2, result.output
    assert "\x1b" not in result.output and "\u202e" not in result.output
    said = " ".join(result.output.replace("│", " ").split())
    assert "([bold]a[/bold] $(touch pwned); \\x1b[2J\\u202e.yaml, b.yaml)" in said


def test_a_command_with_its_own_c_option_says_where_the_config_goes() -> None:
    from opsbook.cli import _Opsbook

    tool = typer.Typer(cls=_Opsbook)

    @tool.callback()
    def root(config: Path | None = typer.Option(None, "--config", "-c")) -> None:
        """The root."""

    @tool.command("count")
    def count(times: int = typer.Option(1, "-c", help="How many.")) -> None:
        """Its own -c."""
        typer.echo(f"counted {times}")

    assert runner.invoke(tool, ["count", "-c", "3"]).output == "counted 3\n"
    result = runner.invoke(tool, ["count", "--config", "x.yaml"])
    assert result.exit_code == 2
    said = " ".join(result.output.replace("│", " ").split())
    assert "put --config before the command: opsbook --config FILE count" in said


# --- every command answers at once: the tree is imported lazily (issue #17, item 8) -------

# What `import opsbook.cli` and `opsbook --help` must not load: the store, the web stack,
# HTTP clients, templates, and every domain's code.
HEAVY = (
    "sqlalchemy",
    "alembic",
    "starlette",
    "fastapi",
    "uvicorn",
    "jinja2",
    "aiohttp",
    "psycopg",
    "pydantic",
    "yaml",
    "opsbook.config",
    "opsbook.context",
    "opsbook.console",
    "opsbook.store",
    "opsbook.sandbox",
    "opsbook.web",
    "opsbook.incidents",
    "opsbook.runbooks",
    "opsbook.watch",
    "opsbook.backups",
    "opsbook.notify",
)
# What `opsbook incident list` needs none of: it reads the store and prints a table.
NOT_FOR_A_LIST = (
    "alembic",
    "fastapi",
    "uvicorn",
    "jinja2",
    "aiohttp",
    "psycopg",
    "opsbook.sandbox",
    "opsbook.web",
    "opsbook.runbooks",
    "opsbook.watch",
    "opsbook.backups",
    "opsbook.postgres",
    "opsbook.status",
)

_LOADED = """
import sys
from opsbook.cli import main
sys.argv = ["opsbook", *sys.argv[1:]]
if len(sys.argv) > 1:
    try:
        main()
    except SystemExit:
        pass
sys.stderr.write("\\nLOADED " + " ".join(sorted(sys.modules)))
"""


def _loaded(*args: str, cwd: Path | None = None) -> set[str]:
    """The modules a fresh interpreter holds after importing opsbook.cli (and running
    `opsbook ARGS`, when given)."""
    env = {k: v for k, v in os.environ.items() if k != "OPSBOOK_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(done.stderr.rpartition("\nLOADED ")[2].split())


def _found(loaded: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == n or m.startswith(f"{n}.") for n in names))


def test_importing_the_cli_loads_no_domain_and_no_heavy_library() -> None:
    assert _found(_loaded(), HEAVY) == []


def test_top_level_help_loads_no_domain_and_no_heavy_library() -> None:
    assert _found(_loaded("--help"), HEAVY) == []


def test_incident_list_loads_only_what_it_uses(workdir: Path) -> None:
    assert runner.invoke(app, ["incident", "list"]).exit_code == 0  # the store made (alembic)
    loaded = _loaded("incident", "list", cwd=workdir)
    assert "opsbook.incidents.cli" in loaded  # it did run
    assert _found(loaded, NOT_FOR_A_LIST) == []


def _one_line(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_the_registry_help_is_each_commands_own_first_paragraph() -> None:
    """`opsbook --help` lists the registry's line, not the command's: they cannot drift."""
    for name, entry in COMMANDS.items():
        real = entry.load(name)
        first = inspect.cleandoc(real.help or "").split("\n\n")[0]
        assert _one_line(entry.help) == _one_line(first), name


def test_top_level_help_lists_every_command_with_its_line() -> None:
    said = _one_line(runner.invoke(app, ["--help"]).output)
    for name, entry in COMMANDS.items():
        assert f"{name} {_one_line(entry.help)}" in said, name
    assert "demo Run opsbook against a seeded sandbox" in said


@pytest.mark.parametrize(
    ("typed", "meant"),
    [(["incidnt"], "'incident'"), (["backpu"], "'backup'"), (["incident", "lst"], "'list'")],
)
def test_a_mistyped_command_is_answered_with_the_nearest_names(
    typed: list[str], meant: str
) -> None:
    result = runner.invoke(app, typed)
    assert result.exit_code == 2
    assert "Did you mean" in result.output and meant in result.output, result.output


def test_a_hint_names_the_config_the_run_used_quoted_for_a_shell() -> None:
    """A resume hint pasted in another folder must act on the same store: it carries the
    config named on this command line, quoted so a hostile path stays one word."""
    from opsbook.context import AppContext

    assert AppContext().hint("runbook resume 1") == "opsbook runbook resume 1"
    hostile = Path("/tmp/a b/$(touch pwned); rm -rf '/[/x].yaml")
    said = AppContext(config_option=hostile).hint("runbook resume 1 --done x")
    assert said.startswith("opsbook --config '/tmp/a b/$(touch pwned); rm -rf '")
    assert shlex.split(said) == [
        "opsbook", "--config", str(hostile), "runbook", "resume", "1", "--done", "x"
    ]  # fmt: skip
