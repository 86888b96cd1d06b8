"""What a real `opsbook` process meets outside a test runner, answered in one line and
never a traceback: an argument, an actor or a folder name whose bytes are not UTF-8
(Python hands them over as lone surrogates), and standard output on a full disk."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAM = "from opsbook.cli import main; main()"


def _opsbook(
    *args: str | bytes, cwd: Path, stdout: int | None = subprocess.PIPE, **env: bytes
) -> subprocess.CompletedProcess[bytes]:
    environ = {k: v for k, v in os.environb.items() if k != b"OPSBOOK_CONFIG"}
    environ.update({b"OPSBOOK_SERVER": b"off", **{k.encode(): v for k, v in env.items()}})
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        cwd=cwd,
        env=environ,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=120,
        check=False,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "opsbook.yaml").write_text("store:\n  url: sqlite:///opsbook.db\n")
    return tmp_path


def test_an_argument_that_is_not_utf8_is_refused_before_anything_runs(folder: Path) -> None:
    title = b"bad \xff title \x1b[2J; rm -rf $(touch pwned)"
    done = _opsbook("incident", "open", "--title", title, "--sev", "P3", cwd=folder)
    assert done.returncode == 2
    assert done.stderr.decode() == (
        "error: argument 4 is not UTF-8 text: bad \ufffd title \\x1b[2J; rm -rf $(touch pwned);"
        " nothing was changed\n"
    )
    assert not (folder / "opsbook.db").exists()  # not even the store was made
    assert not (folder / "pwned").exists()


def test_an_actor_that_is_not_utf8_is_kept_as_escapes(folder: Path) -> None:
    opened = _opsbook("incident", "open", "--title", "t", "--sev", "P3", cwd=folder,
                      OPSBOOK_ACTOR=b"ops\xfe\x1b[31m")  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    shown = _opsbook("incident", "show", "1", cwd=folder)
    assert shown.returncode == 0, shown.stderr
    assert "by ops\\xfe\\x1b[31m" in shown.stdout.decode()


def test_a_folder_whose_name_is_not_utf8_is_named_not_a_traceback(folder: Path) -> None:
    odd = Path(os.fsdecode(bytes(folder) + b"/d\xff"))
    odd.mkdir()
    (odd / "opsbook.yaml").write_text("store:\n  url: sqlite:///opsbook.db\n")
    done = _opsbook("incident", "list", cwd=odd)
    assert done.returncode == 2
    said = done.stderr.decode()
    assert said.startswith("error: the store's file ") and "d\ufffd/opsbook.db" in said
    assert "not UTF-8 text" in said and "Traceback" not in said


def test_output_to_a_full_disk_is_one_line_and_exit_1(folder: Path) -> None:
    assert _opsbook("incident", "open", "--title", "t", "--sev", "P3", cwd=folder).returncode == 0
    with open("/dev/full", "wb") as full:
        done = _opsbook("incident", "list", cwd=folder, stdout=full.fileno())
    assert done.returncode == 1
    assert done.stderr.decode() == "error: cannot write the output: No space left on device\n"


def test_a_full_disk_under_a_file_is_named_and_output_is_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not the console's output: the full disk is under a file the command wrote."""
    from opsbook import streams

    print("what the command said before")
    with pytest.raises(SystemExit) as ended:
        streams.output_lost(OSError(28, "No space left on device", "/reports/drill-3\x1b[2J.json"))
    assert ended.value.code == 1
    said = capsys.readouterr()
    assert said.out == "what the command said before\n"
    assert said.err == (
        "error: cannot write a file (/reports/drill-3\\x1b[2J.json): No space left on device;"
        " what was done before stays\n"
    )


@pytest.mark.parametrize(
    "args, said",
    [
        (
            ["backup", "prune", "--keep-days", "x"],
            "Invalid value for '--keep-days': 'x' is not a valid int range"
            " (see opsbook backup prune -h)",
        ),
        (
            ["backup", "lisst"],
            "No such command 'lisst'. Did you mean 'list'? (see opsbook backup -h)",
        ),
        (
            ["incident", "list", "--\x1b[2J[/x]$(touch pwned)"],
            "No such option: --\\x1b[2J[/x]$(touch pwned) (see opsbook incident list -h)",
        ),
        (
            ["backup", "prune", "--keep-days", "9" * 300],
            f"Invalid value for '--keep-days': {'9' * 300} is not in the range 0<=x<=36500"
            " (see opsbook backup prune -h)",
        ),
    ],
)
def test_a_mistyped_command_option_or_value_is_one_line_and_exit_2(
    folder: Path, args: list[str], said: str
) -> None:
    done = _opsbook(*args, cwd=folder)
    assert done.returncode == 2
    assert done.stderr.decode() == f"error: {said}\n"
    assert done.stdout == b""
    assert not (folder / "pwned").exists()


@pytest.mark.parametrize("unbuffered", [b"1", b""])
def test_output_cut_by_a_file_size_limit_is_an_error_not_a_short_file(
    folder: Path, unbuffered: bytes
) -> None:
    """Under PYTHONUNBUFFERED=1 a partial write used to lose the rest without an error:
    a cut file and exit 0."""
    out = folder / "out.txt"
    with out.open("wb") as sink:
        done = subprocess.run(
            [sys.executable, "-c", PROGRAM, "runbook", "list", "--json"],
            cwd=folder, stdout=sink, stderr=subprocess.PIPE, timeout=120, check=False,
            env={**os.environ, "OPSBOOK_SERVER": "off", "PYTHONUNBUFFERED": unbuffered.decode()},
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100)),
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.decode() == "error: cannot write the output: File too large\n"
    assert out.stat().st_size == 100
