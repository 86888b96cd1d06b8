"""Hints that run as printed: `opsbook` when PATH finds it, else the running executable's
path from the current folder, else one `source .../activate` first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from opsbook.demo.hints import Invocation, invocation, print_hints, watch_hints


def _venv(root: Path) -> Path:
    script = root / ".venv" / "bin" / "opsbook"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    (script.parent / "activate").write_text("")
    return script


def _nowhere(_name: str) -> None:
    return None


def test_on_path_it_is_opsbook(tmp_path: Path) -> None:
    script = _venv(tmp_path)
    found = invocation(cwd=tmp_path, which=lambda _n: "/usr/bin/opsbook", argv0=str(script))
    assert found == Invocation("opsbook")


def test_not_on_path_under_the_folder_it_is_the_relative_path(tmp_path: Path) -> None:
    script = _venv(tmp_path)
    found = invocation(cwd=tmp_path, which=_nowhere, argv0=str(script))
    assert found == Invocation(".venv/bin/opsbook")
    assert found.line("--config", "/tmp/x y/opsbook.yaml", "status") == (
        ".venv/bin/opsbook --config '/tmp/x y/opsbook.yaml' status"
    )


def test_python_dash_m_finds_the_script_beside_its_python(tmp_path: Path) -> None:
    script = _venv(tmp_path)
    python = str(script.parent / "python")
    found = invocation(
        cwd=tmp_path, which=_nowhere, argv0="/src/opsbook/__main__.py", executable=python
    )
    assert found == Invocation(".venv/bin/opsbook")


def test_elsewhere_it_says_activate_once(tmp_path: Path) -> None:
    script = _venv(tmp_path / "repo")
    (tmp_path / "other").mkdir()
    found = invocation(cwd=tmp_path / "other", which=_nowhere, argv0=str(script))
    assert found == Invocation("opsbook", first=f"source {script.parent / 'activate'}")


@pytest.mark.parametrize("hostile", ["a b; rm -rf x", "$(touch pwned)", "it's", "[/x]\x1b[2J"])
def test_hostile_paths_are_quoted_and_shown_as_text(
    tmp_path: Path, hostile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _venv(tmp_path / hostile)
    found = invocation(cwd=tmp_path / hostile / "x", which=_nowhere, argv0=str(script))
    assert found.first is not None
    config = tmp_path / hostile / "opsbook.yaml"
    print_hints([("watch it", found.line("--config", str(config), "status"))], found)
    out = capsys.readouterr().out
    assert "\x1b" not in out
    # What a shell makes of the printed `first` line: one word, the activate script.
    assert _words(found.first, tmp_path) == ["source", str(script.parent / "activate")]
    assert _words(found.line("--config", str(config)), tmp_path)[2] == str(config)
    assert not (Path.cwd() / "pwned").exists()


def test_the_hint_runs_as_printed_without_opsbook_on_path(tmp_path: Path) -> None:
    """The real thing: opsbook started by path, PATH without it, the hint run by a shell."""
    script = Path(sys.executable).parent / "opsbook"
    cwd = script.parent.parent.parent  # the folder holding the virtual environment
    how = invocation(cwd=cwd, which=_nowhere, argv0=str(script))
    config = tmp_path / "opsbook.yaml"
    config.write_text("store:\n  url: sqlite:///opsbook.db\n")
    env = {**os.environ, "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    env.pop("OPSBOOK_CONFIG", None)
    command = how.line("--config", str(config), "incident", "list")
    if how.first:
        command = f"{how.first} && {command}"
    done = subprocess.run(
        ["/bin/sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "no incidents" in done.stdout


# A folder name a shell would act on, and control characters a terminal would obey.
NASTY = 'it\'s a "dir"; $(touch pwned) `touch pwned`\nnext \x1b[2J\r\x07\u202e\x85 [/x] \\'


def _words(printed: str, cwd: Path) -> list[str]:
    """What bash makes of a printed command: its words, as the command would get them."""
    done = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {printed}"],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},  # exact in any locale
        capture_output=True,
        check=True,
    )
    return done.stdout.decode().split("\0")[:-1]


@pytest.mark.parametrize("elsewhere", [False, True])
def test_hints_in_a_hostile_folder_paste_as_the_exact_words_and_show_controls(
    tmp_path: Path, elsewhere: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / NASTY
    script = _venv(folder)
    config = folder / "opsbook.yaml"
    cwd = tmp_path / "other" if elsewhere else tmp_path
    cwd.mkdir(exist_ok=True)
    how = invocation(cwd=cwd, which=_nowhere, argv0=str(script))
    rows = watch_hints(config=config, app_url="http://127.0.0.1:9", status_page="-", how=how)
    print_hints(rows, how)
    out = capsys.readouterr().out
    assert not set(out) & set("\x1b\r\x07\u202e\x85")  # shown as escapes, never raw
    assert "\\x1b[2J\\r\\x07\\xe2\\x80\\xae\\xc2\\x85 [/x]" in out  # U+202E, U+0085
    lines = out.splitlines()
    assert len(lines) == len(rows) + 2 + elsewhere  # no hint broken over two lines
    commands = {line[:13].strip(): line[13:] for line in lines[2:] if line[:13].strip()}
    if elsewhere:
        assert _words(commands["first"], cwd) == ["source", str(script.parent / "activate")]
        program = "opsbook"
    else:
        program = str(script.relative_to(cwd))
    watched = _words(commands["watch it"], cwd)
    assert watched == [program, "--config", str(config), "status"]
    assert not (cwd / "pwned").exists() and not (Path.cwd() / "pwned").exists()
