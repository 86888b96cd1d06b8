"""What verify refuses, and what it shows of a hostile app: exit 2 naming the value with
nothing recorded; an app that does not answer is one line, exit 1; an app's words are
data on the terminal."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from opsbook.serving import BackgroundServer
from tests.deploy.conftest import NEW, Desk, write_config

HOSTILE_COMMITS = [
    "abc def",
    "abcd; rm -rf /",
    "$(id)",
    "\x1b[31mabcd",
    "[/x]abcd",
    "abcd\x00",
    "a" * 100_000,
]


@pytest.mark.parametrize("commit", HOSTILE_COMMITS)
def test_a_commit_that_is_not_one_is_refused(desk: Desk, commit: str) -> None:
    result = desk.opsbook("deploy", "verify", "--commit", commit)

    assert result.exit_code == 2, result.output
    assert "is not a commit id" in result.output
    assert "\x1b" not in result.output and "\x00" not in result.output
    assert len(result.output) < 1000  # a 100 KB value is not echoed back
    assert desk.records() == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--watch", "999999d"], "--watch"),
        (["--watch", "2d"], "--watch"),
        (["--wait", "-1s"], "--wait"),
        (["--wait", "soon"], "--wait"),
        (["--env", "prod; rm -rf /"], "'prod; rm -rf /'"),
        (["--env", "[/x]"], "[/x]"),
        (["--url", "ftp://example.com"], "'ftp://example.com'"),
        (["--url", "http://127.0.0.1/\x1b[2J"], "\\x1b"),
    ],
)
def test_bad_options_exit_2_naming_the_value(desk: Desk, args: list[str], said: str) -> None:
    result = desk.opsbook("deploy", "verify", "--commit", NEW, *args)

    assert result.exit_code == 2, result.output
    assert said in result.output
    assert "\x1b" not in result.output
    assert desk.records() == []


def test_deploy_list_refuses_an_unknown_env(desk: Desk) -> None:
    result = desk.opsbook("deploy", "list", "--env", "qa")
    assert result.exit_code == 2
    assert "'qa'" in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_app_is_one_line_and_nothing_is_recorded(desk: Desk) -> None:
    url = f"http://127.0.0.1:{_free_port()}"

    result = desk.opsbook("deploy", "verify", "--commit", NEW, "--url", url)

    assert result.exit_code == 1, result.output
    # One line of error, after the warning that no checklist passed for the commit.
    warned, said = result.output.splitlines()
    assert warned.startswith("warning: no passed deploy check of ")
    assert "cannot reach the app" in said
    assert "nothing was recorded" in result.output
    assert desk.records() == []


HOSTILE_VERSION = "\x1b[2J[/x][bold]$(rm -rf /); \u202eabc"


@pytest.fixture
def hostile_app() -> Iterator[str]:
    """An app on 127.0.0.1 whose version endpoint and pages say hostile things."""
    app = FastAPI()

    @app.get("/api/version")
    def version() -> dict[str, str]:
        return {"commit": HOSTILE_VERSION}

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/{page}")
    def page(page: str) -> HTMLResponse:
        return HTMLResponse("<p>ok</p>")

    server = BackgroundServer(app).start()
    try:
        yield server.url
    finally:
        server.stop()


def test_a_hostile_version_string_is_shown_escaped(
    desk: Desk, hostile_app: str, tmp_path: Path
) -> None:
    write_config(desk.config, desk.store_url, hostile_app)

    result = desk.opsbook("deploy", "verify", "--commit", NEW, "--wait", "20s")

    assert result.exit_code == 1, result.output
    assert "\x1b" not in result.output and "\u202e" not in result.output
    assert "\\x1b[2J[/x][bol" in result.output  # shown as typed (12 chars), not as markup
    listed = desk.opsbook("deploy", "list")
    assert "\x1b" not in listed.output
    data = json.loads(desk.opsbook("deploy", "list", "--json").stdout)
    assert data[0]["failed_stage"] == "version"
    assert "\x1b[2J" in data[0]["saw"]  # kept as it was said, escaped only when shown
