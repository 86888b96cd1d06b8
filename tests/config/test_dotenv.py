""".env beside the config: values are data, never shell; a bad line is located and changes
nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.config import ConfigError, load_config
from opsbook.config.dotenv import MAX_ENV_FILE_BYTES, parse_env_text, read_env_file

runner = CliRunner()


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_env_text(text, file="/app/.env")
    return [str(issue) for issue in caught.value.issues]


def test_names_values_comments_and_quotes() -> None:
    text = (
        "\ufeff# a comment\n"
        "\n"
        "PLAIN=value  # a comment after a space\n"
        "export EXPORTED = spaced value\r\n"
        "HASH=abc#def\n"
        "SINGLE='  kept  # as written \\n'\n"
        'DOUBLE="a \\"quoted\\" \\\\ word\\nnext"  # comment\n'
        "EMPTY=\n"
        "EQUALS=a=b=c\n"
    )
    assert parse_env_text(text.removeprefix("\ufeff"), file=".env") == {
        "PLAIN": "value",
        "EXPORTED": "spaced value",
        "HASH": "abc#def",
        "SINGLE": "  kept  # as written \\n",
        "DOUBLE": 'a "quoted" \\ word\nnext',
        "EMPTY": "",
        "EQUALS": "a=b=c",
    }


@pytest.mark.parametrize(
    "value",
    [
        "$(touch {canary})",
        "`touch {canary}`",
        "x; touch {canary}",
        "${{HOME}}$HOME",
        "a && touch {canary} | cat",
        "[/x][bold red]markup[/]",
        "x'; DROP TABLE incidents; --",
    ],
)
def test_shell_text_stays_literal_and_runs_nothing(tmp_path: Path, value: str) -> None:
    canary = tmp_path / "ran"
    written = value.format(canary=canary)
    env = tmp_path / ".env"
    env.write_text(f"UNQUOTED={written}\nSINGLE='{written}'\n")
    if "'" in written:
        env.write_text(f'UNQUOTED={written}\nDOUBLE="{written}"\n')
    values = read_env_file(env)
    assert set(values.values()) == {written}
    assert not canary.exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("just some words", "1:1: expected NAME=value (there is no '=' on this line)"),
        ("  SECRET_VALUE_NO_EQUALS", "1:3: expected NAME=value"),
        ("1ABC=x", "1:1: the name before '=' must be letters, digits and _"),
        ("A B=x", "1:1: the name before '=' must be letters"),
        ("KEY='unclosed", "1:5: the quote is not closed on this line"),
        ('KEY="unclosed \\"', "1:5: the quote is not closed on this line"),
        ("KEY='a' b", "1:8: text after the closing quote"),
        ("KEY=a\x00b", "1:6: control character U+0000 is not allowed"),
        ("KEY=\x1b[2Jcleared", "1:5: control character U+001B is not allowed"),
        ("KEY=a\rb", "1:6: control character U+000D is not allowed"),
        ("KEY=\x9bx", "1:5: control character U+009B is not allowed"),
    ],
)
def test_a_bad_line_names_file_line_and_column(line: str, message: str) -> None:
    [found] = problems(f"{line}\n")
    assert found.startswith(f"/app/.env:{message}")


def test_errors_never_repeat_the_value() -> None:
    secret = "hunter2-very-secret"
    for text in (secret, f"KEY='{secret}", f"KEY={secret}\x00", f"KEY='{secret}' tail"):
        assert all(secret not in problem for problem in problems(text))


def test_every_bad_line_is_reported_and_a_name_set_twice_is_one() -> None:
    found = problems("A=1\nnonsense\nB=2\nA=3\n'x'\n")
    assert found == [
        "/app/.env:2:1: expected NAME=value (there is no '=' on this line)",
        "/app/.env:4:1: A is set twice (first on line 1)",
        "/app/.env:5:1: expected NAME=value (there is no '=' on this line)",
    ]


def test_a_huge_file_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b"A=" + b"x" * (10 * 1024 * 1024) + b"\n")
    with pytest.raises(ConfigError) as caught:
        read_env_file(env)
    assert str(caught.value) == f"{env}:1:1: larger than 1 MiB: a .env holds NAME=value lines"
    env.write_bytes(b"A=" + b"x" * (MAX_ENV_FILE_BYTES - 3) + b"\n")
    assert len(read_env_file(env)["A"]) == MAX_ENV_FILE_BYTES - 3


def test_text_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b"A=1\nB=\xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        read_env_file(env)
    assert str(caught.value) == f"{env}:2:1: not UTF-8 text"


def test_no_env_file_is_no_variables(tmp_path: Path) -> None:
    assert read_env_file(tmp_path / ".env") == {}


def test_env_file_values_fill_the_config_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / "opsbook.yaml").write_text(
        "project: ${PROJECT}\napp:\n  url: ${APP_URL}\n  name: ${NAME:-default name}\n"
    )
    (tmp_path / ".env").write_text("PROJECT=$(whoami)\nAPP_URL=http://env-file\nNAME=\n")
    config = load_config(tmp_path / "opsbook.yaml", env={"APP_URL": "http://environment"})
    assert config.project == "$(whoami)"
    assert config.app.url == "http://environment"
    assert config.app.name == "default name"  # empty takes the default, as in the shell


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSBOOK_CONFIG", raising=False)
    for name in ("APP_URL", "DATABASE_URL", "MY_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "opsbook.yaml").write_text(
        "app:\n  url: ${APP_URL}\n  name: ${MY_API_TOKEN:-none}\n"
        "database:\n  url: ${DATABASE_URL}\n"
    )
    return tmp_path


def test_a_bad_env_file_stops_every_command_and_changes_nothing(project: Path) -> None:
    (project / ".env").write_text("APP_URL=http://x\nDATABASE_URL=postgresql://u:pw@h/db\x1b[2J\n")
    for args in (["config", "check"], ["store", "upgrade"], ["incident", "list"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert f"{project / '.env'}:2:36: control character U+001B is not allowed" in result.output
        assert "nothing was changed" in result.output
        assert "\x1b" not in result.output and "pw@h" not in result.output
    assert not (project / "opsbook.db").exists()


def test_env_file_secrets_are_never_printed(project: Path) -> None:
    """Used as a secret (the database URL's password) or named like one, a .env value is
    masked everywhere, --json too; shell and markup in a plain value show as written."""
    (project / ".env").write_text(
        "APP_URL='http://x/[/x][bold]$(id)'\n"
        "DATABASE_URL=postgresql://app:env-file-db-pass@db.internal/app\n"
        "MY_API_TOKEN=env-file-token-123\n"
    )
    text = runner.invoke(app, ["config", "check", "--show"])
    as_json = runner.invoke(app, ["config", "check", "--json"])
    for result in (text, as_json):
        assert result.exit_code == 0, result.output
        assert "env-file-db-pass" not in result.output
        assert "env-file-token-123" not in result.output
    assert "url: http://x/[/x][bold]$(id)" in text.output
    resolved = json.loads(as_json.output)
    assert resolved["app"]["url"] == "http://x/[/x][bold]$(id)"
    assert resolved["database"]["url"] == "postgresql://app:***@db.internal/app"
    assert resolved["app"]["name"] == "***"
