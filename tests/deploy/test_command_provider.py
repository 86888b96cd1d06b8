"""The `command` provider's hostile edges: a placeholder inside an `sh -c` script is refused
by the config (it would be shell code); `--to` that looks like an option or holds a control
character is refused (exit 2); what the command prints is masked and only its tail is
kept, even when it prints 50 MB. The audit commands of the monthly routine keep a tail
the same way."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from opsbook.config import ConfigError, parse_config
from opsbook.config.rollback import CommandSettings
from opsbook.deploy.command import Command
from opsbook.deploy.providers import Candidate, ProviderError
from opsbook.programs import run_argv
from tests.deploy.conftest import Desk
from tests.deploy.test_rollback import command_yaml, configure
from tests.deploy.test_rollback_bad_input import broken_production, nothing_changed
from tests.notify.fakes import FakeSlack

FIFTY_MB = "import sys\nsys.stdout.write('x' * 50_000_000 + 'THE END')\nsys.exit({code})\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["sh", "-c", "promote {deployment}"],
        ["/bin/bash", "-lc", "promote {commit}"],
        ["/usr/bin/env", "A=1", "bash", "-c", "x; promote '{deployment}'"],
        ["python3", "-c", "import os; os.system('promote {deployment}')"],
    ],
)
def test_a_placeholder_inside_an_inline_script_is_refused(argv: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"deploy:\n  command: {{argv: {json.dumps(argv)}}}\n", file="o.yaml", env={})
    assert "would be code; pass it as an argument after the script" in str(caught.value)


def test_the_id_as_a_positional_argument_of_the_script_is_accepted() -> None:
    argv = ["sh", "-c", 'promote "$1"', "sh", "{deployment}"]
    assert CommandSettings(argv=argv).argv == argv


@pytest.mark.parametrize(
    "to", ["-x", "--help", "a\x1b[31mb", "a\nb", "a\x00b", "$(touch pwned)", "a;b", "a b", "'a'"]
)
def test_a_to_like_an_option_or_with_a_control_character_is_refused(
    desk: Desk, slack: FakeSlack, tmp_path: Path, to: str
) -> None:
    touched = tmp_path / "ran"
    script = tmp_path / "promote.py"
    script.write_text(f"import pathlib\npathlib.Path({str(touched)!r}).write_text('')\n")
    configure(desk, slack, command_yaml([sys.executable, str(script), "{deployment}"]))
    broken_production(desk)
    result = desk.opsbook("deploy", "rollback", "--to", to, "--reason", "r", "--yes")
    assert result.exit_code == 2, result.output
    assert "not a deployment id" in result.output and "\x1b" not in result.output
    assert not touched.exists()
    nothing_changed(desk)


def _promote(tmp_path: Path, body: str, secrets: list[str]) -> ProviderError:
    script = tmp_path / "promote.py"
    script.write_text(body)
    settings = CommandSettings(argv=[sys.executable, str(script), "{deployment}"])
    command = Command(settings, cwd=tmp_path, known=[], secrets=secrets)
    with pytest.raises(ProviderError) as caught:
        asyncio.run(command.promote(Candidate("dpl_1", "", None)))
    return caught.value


def test_the_commands_output_is_masked(tmp_path: Path) -> None:
    said = _promote(tmp_path, "print('token=hunter2-secret-value')\nraise SystemExit(1)\n", [
        "hunter2-secret-value"
    ])  # fmt: skip
    assert "hunter2" not in str(said) and "***" in str(said) and said.acted


def test_a_command_printing_50_mb_is_read_to_its_end_and_only_its_tail_kept(
    tmp_path: Path,
) -> None:
    said = str(_promote(tmp_path, FIFTY_MB.format(code=1), []))
    assert "exited 1: [... " in said and " bytes cut]" in said
    cut = int(said.split("[... ", 1)[1].split(" ", 1)[0])
    assert cut == 50_000_007 - 64 * 1024


def test_an_audit_command_printing_50_mb_keeps_its_tail(tmp_path: Path) -> None:
    script = tmp_path / "audit.py"
    script.write_text(FIFTY_MB.format(code=0))
    done = run_argv([sys.executable, str(script)], timeout=120, secrets=[])
    assert done["finding"] is None
    output = done["output"]
    assert output.startswith(f"[... {50_000_007 - 64 * 1024} bytes cut]\n")
    assert output.endswith("THE END") and len(output) < 70 * 1024


def test_an_id_with_shell_syntax_never_reaches_a_script_the_config_check_missed(
    desk: Desk, slack: FakeSlack, tmp_path: Path
) -> None:
    """`bash -e -c SCRIPT` hides its script from the config's inline-script check (the
    first flag read is -e): the id's own shape is what keeps it from being code."""
    touched = tmp_path / "pwned"
    argv = ["bash", "-e", "-c", "echo promoting {deployment}"]
    configure(desk, slack, command_yaml(argv))
    broken_production(desk)
    to = f"$(touch {touched})"
    result = desk.opsbook("deploy", "rollback", "--to", to, "--reason", "r", "--yes")
    assert result.exit_code == 2, result.output
    assert "not a deployment id" in result.output
    assert not touched.exists()
    nothing_changed(desk)
