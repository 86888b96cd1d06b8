"""The command server, with real processes: the installed `opsbook` program, the server it
starts, and the commands the server's children run in the client's place."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import resource
import select
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import sysconfig
import tempfile
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opsbook.cli import COMMANDS
from opsbook.cliserver import wire
from opsbook.cliserver.client import QUICK, quick

pytestmark = pytest.mark.slow
OPSBOOK = str(Path(sys.executable).with_name("opsbook"))
HOSTILE = "; rm -rf ~ $(touch pwned) `id` 'q\" [/x] [bold]b[/bold] \x1b[2J \u202e"


@dataclass
class Served:
    folder: Path  # where the commands run: its opsbook.yaml
    env: dict[str, str]

    def run(
        self, *args: str, server: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(env or self.env)
        if not server:
            env["OPSBOOK_SERVER"] = "off"
        return subprocess.run(
            [OPSBOOK, *args], cwd=self.folder, env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip

    @property
    def socket(self) -> Path:
        """The server's socket: its name hashes the program's import path, which is not
        this test process's, so it is found rather than computed."""
        folder = Path(wire.folder(self.env))
        found = sorted(folder.glob("*.lock")) if folder.exists() else []
        return found[0].with_suffix(".sock") if found else folder / "none.sock"

    def log(self) -> list[str]:
        path = self.socket.with_suffix(".log")
        return path.read_text().splitlines() if path.exists() else []

    def server_pid(self) -> int | None:
        try:
            return int(self.socket.with_suffix(".lock").read_text().strip())
        except (OSError, ValueError):
            return None

    def start(self) -> int:
        """The first quick command runs in process and starts the server: wait for it."""
        assert self.run("incident", "list").returncode == 0
        deadline = time.monotonic() + 90
        while not self.socket.exists():
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        pid = self.server_pid()
        assert pid is not None
        return pid

    def stop(self) -> None:
        pid = self.server_pid()
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            _wait_gone(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return _state(pid) not in (None, "Z")  # a zombie has finished


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # reaped meanwhile
        return None


def _wait_gone(pid: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.05)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "opsbook.yaml").write_text("store:\n  url: sqlite:///opsbook.db\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OPSBOOK_SERVER", "OPSBOOK_CONFIG")}
    # Short: a Unix socket's path must fit in about 100 bytes (pytest's tmp_path does not).
    run = Path(tempfile.mkdtemp(prefix="ob-"))
    env |= {"XDG_RUNTIME_DIR": str(run), "COLUMNS": "200"}
    found = Served(folder, env)
    try:
        yield found
    finally:
        found.stop()
        shutil.rmtree(run, ignore_errors=True)


def _same(a: subprocess.CompletedProcess[str], b: subprocess.CompletedProcess[str]) -> None:
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)


def test_a_served_command_is_the_command_run_in_process(served: Served) -> None:
    pid = served.start()
    opened = served.run("incident", "open", "--sev", "P2", "--title", HOSTILE)
    assert opened.returncode == 0, opened.stderr
    commands = [  # outputs that do not move with the clock ("now", "1s ago")
        ("runbook", "list"),
        ("--config", "opsbook.yaml", "runbook", "show", "p0-outage"),
        ("incident", "list", "--json"),
        ("--config", "opsbook.yaml", "incident", "show", "1", "--json"),
        ("incident", "show", "999999"),  # not found: exit 1 and a message on stderr
        ("incident", "show", "99999999999999999999"),  # refused by the option's bound
        ("status", "--json"),
        ("incident", "nope"),  # a typo: exit 2 with suggestions
    ]
    for args in commands:
        through, here = served.run(*args), served.run(*args, server=False)
        _same(through, here)
    assert not (served.folder / "pwned").exists()
    shown = served.run("incident", "show", "1").stdout
    assert "[/x] [bold]b[/bold] \\x1b[2J" in shown and "\x1b" not in shown
    logged = served.log()
    assert len(logged) == 1 + len(commands) + 1 and logged[-2].endswith(" incident ?")
    assert "rm -rf" not in "\n".join(logged)  # what a command was given is not logged
    assert served.server_pid() == pid  # one server served them all


def test_the_command_runs_in_the_clients_folder_with_its_environment(served: Served) -> None:
    served.start()
    elsewhere = served.folder.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "opsbook.yaml").write_text("store:\n  url: sqlite:///other.db\n")
    served.run("incident", "open", "--sev", "P1", "--title", "here")
    other = served.run(
        "incident", "open", "--sev", "P3", "--title", "there",
        env={**served.env, "OPSBOOK_CONFIG": str(elsewhere / "opsbook.yaml")},
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert (elsewhere / "other.db").exists()
    titles = [i["title"] for i in json.loads(served.run("incident", "list", "--json").stdout)]
    assert titles == ["here"]
    narrow = served.run("incident", "list", env={**served.env, "COLUMNS": "60"})
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 60
    assert len(served.log()) == 4


def test_at_a_terminal_the_served_command_sees_the_terminal(served: Served) -> None:
    served.start()
    env = {k: v for k, v in served.env.items() if k not in ("COLUMNS", "LINES")}
    through = _at_terminal(served, env, columns=50)
    here = _at_terminal(served, {**env, "OPSBOOK_SERVER": "off"}, columns=50)
    assert through == here
    assert "\x1b[" in through  # a terminal gets colours
    assert max(len(line) for line in _plain(through).splitlines()) <= 50


def _at_terminal(served: Served, env: dict[str, str], *, columns: int) -> str:
    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen(
        [OPSBOOK, "runbook", "list"], cwd=served.folder, env=env,
        stdin=side, stdout=side, stderr=side,
    )  # fmt: skip
    os.close(side)
    output = b""
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        assert ready, "no output from the command"
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(main)
    assert process.wait(timeout=60) == 0
    return output.decode()


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text).replace("\r", "")


def _locked(served: Served) -> sqlite3.Connection:
    """The store's write lock, held: a write waits for it (busy_timeout, 30 s)."""
    db = sqlite3.connect(served.folder / "opsbook.db", isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    return db


def _waiting_child(served: Served, logged: int) -> int:
    """The pid of the served command once the server has logged it."""
    deadline = time.monotonic() + 60
    while len(served.log()) <= logged:
        assert time.monotonic() < deadline, "the command was not served"
        time.sleep(0.05)
    return int(served.log()[-1].split()[1])


@contextmanager
def _waiting(
    served: Served, title: str, **popen: Any
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`incident open` served and waiting for the store's write lock, which the block
    holds: the program and the pid of the command's child. The lock is let go after."""
    logged = len(served.log())
    db = _locked(served)
    try:
        process = subprocess.Popen(
            [OPSBOOK, "incident", "open", "--sev", "P2", "--title", title],
            cwd=served.folder, env=served.env, **popen,
        )  # fmt: skip
        yield process, _waiting_child(served, logged)
    finally:
        db.rollback()
        db.close()


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, -signal.SIGTERM)])
def test_a_signal_to_the_program_reaches_the_served_command(
    served: Served, sig: signal.Signals, code: int
) -> None:
    served.start()
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    with _waiting(served, "waits", **pipes) as (process, child):
        assert _alive(child)
        process.send_signal(sig)
        _, err = process.communicate(timeout=60)
        # As in process: Ctrl-C ends the command with typer's 130, SIGTERM kills it.
        assert process.returncode == code, err
        _wait_gone(child)
    assert json.loads(served.run("incident", "list", "--json").stdout) == []


def test_a_killed_program_takes_its_served_command_with_it(served: Served) -> None:
    served.start()
    with _waiting(served, "waits") as (process, child):
        process.kill()
        process.wait(timeout=60)
        _wait_gone(child)
    assert json.loads(served.run("incident", "list", "--json").stdout) == []
    assert served.run("incident", "list").returncode == 0  # the server still serves


def test_a_changed_install_is_never_served_by_the_old_server(served: Served) -> None:
    old = served.start()
    site = Path(sysconfig.get_paths()["purelib"])
    before = site.stat()
    try:
        os.utime(site, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        logged = len(served.log())
        result = served.run("incident", "list", "--json")
        assert result.returncode == 0 and json.loads(result.stdout) == []
        assert len(served.log()) == logged  # refused: it ran in process
        _wait_gone(old)
    finally:
        os.utime(site, ns=(before.st_atime_ns, before.st_mtime_ns))
    new = served.start()
    assert new != old
    served.run("incident", "list")
    assert served.log()[-1].split()[1] != ""


def test_a_socket_folder_others_can_write_is_never_used(served: Served) -> None:
    folder = served.socket.parent
    folder.mkdir(mode=0o700)
    folder.chmod(0o777)
    for _ in range(2):
        result = served.run("incident", "list", "--json")
        assert result.returncode == 0 and json.loads(result.stdout) == []
    assert list(folder.iterdir()) == []  # no server started, no socket made


def _replies(conn: socket.socket) -> list[bytes]:
    """The kinds of reply until the server closes: STARTED, then EXITED (from the child,
    which ran nothing, and again from the server as it reaps it)."""
    kinds = []
    try:
        while (reply := wire.receive_reply(conn)) is not None:
            kinds.append(reply[0])
    except ConnectionResetError:  # closed with the sender's unread bytes still queued
        pass
    return kinds


# Over the request's limit in all (one variable may hold 128 KB at most on Linux).
BIG = {f"BIG_{n}": "x" * 100_000 for n in range(wire.MAX_REQUEST // 100_000 + 2)}


def test_nonsense_on_the_socket_and_an_oversized_request_leave_the_server_serving(
    served: Served,
) -> None:
    served.start()
    before = len(served.log())
    for garbage in [b"", b"\x00" * 10, b"\xff\xff\xff\xff" + b"x" * 100, b"GET / HTTP/1.1\r\n\r\n"]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as rogue:
            rogue.connect(str(served.socket))
            rogue.sendall(garbage)
            rogue.shutdown(socket.SHUT_WR)  # hung up: its child is ended, started or not
            replies = _replies(rogue)
            assert wire.EXITED in replies and set(replies) <= {wire.STARTED, wire.EXITED}
    assert len(served.log()) == before  # nothing ran
    big = served.run("incident", "list", "--json", env={**served.env, **BIG})
    assert big.returncode == 0 and json.loads(big.stdout) == []
    logged = len(served.log())
    assert served.run("incident", "list").returncode == 0
    assert len(served.log()) == logged + 1  # the big one ran in process; this one served


def test_commands_at_once_are_each_served_once(served: Served) -> None:
    pid = served.start()
    processes = [
        subprocess.Popen(
            [OPSBOOK, "incident", "open", "--sev", "P3", "--title", f"burst {n}"],
            cwd=served.folder,
            env=served.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    titles = sorted(i["title"] for i in json.loads(served.run("incident", "list", "--json").stdout))
    assert titles == sorted(f"burst {n}" for n in range(8))
    assert served.server_pid() == pid and len(served.log()) == 9


def test_an_idle_server_exits_and_removes_its_socket(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    path = folder / "x.sock"
    server = subprocess.Popen(
        [sys.executable, "-P", "-m", "opsbook.cliserver.server", str(path), "--idle", "0.5"],
        cwd="/",
    )
    assert server.wait(timeout=120) == 0
    assert not path.exists()


def test_only_everyday_commands_are_quick() -> None:
    assert quick(["incident", "list"]) and quick(["--config", "x.yaml", "status"])
    assert quick(["-c", "x", "runbook", "show", "p0-outage"]) and quick(["--config=x", "oncall"])
    assert quick(["status", "--json"]) and quick(["incident", "--help"])
    for argv in [
        [], ["--help"], ["--version"], ["serve"], ["demo"], ["runbook", "run", "weekly"],
        ["backup", "create"], ["drill"], ["deploy", "rollback"], ["--config"],
        ["runbook", "--json", "run"], ["deploy"], ["--config", "incident", "serve"],
    ]:  # fmt: skip
        assert not quick(argv), argv


def test_every_quick_command_exists() -> None:
    for group, names in QUICK.items():
        assert group in COMMANDS, group
        if names is None:
            continue
        command = COMMANDS[group].load(group)
        assert names <= set(getattr(command, "commands", {})), (group, names)


def test_a_sender_that_never_finishes_its_request_holds_up_no_one(served: Served) -> None:
    served.start()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as rogue:
        rogue.connect(str(served.socket))
        rogue.sendall(b"\x00\x00")  # the first bytes of a length, then nothing
        logged = len(served.log())
        assert served.run("incident", "list").returncode == 0
        assert len(served.log()) == logged + 1  # served while the sender still dawdles
        replies = _replies(rogue)  # its child gave up
        assert replies[0] == wire.STARTED and set(replies[1:]) == {wire.EXITED}


def test_a_caller_that_ignores_hangups_keeps_the_command_alive(served: Served) -> None:
    """`nohup opsbook incident open ...`: the hangup that ends the session is ignored by
    the command, served or not."""
    served.start()
    ignore_hangups = {"preexec_fn": lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)}
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    with _waiting(served, "survives", **pipes, **ignore_hangups) as (process, child):
        process.send_signal(signal.SIGHUP)
        os.kill(child, signal.SIGHUP)  # the session's hangup reaches every process in it
        assert _alive(child)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    titles = [i["title"] for i in json.loads(served.run("incident", "list", "--json").stdout)]
    assert titles == ["survives"]


def test_a_stopped_command_whose_program_is_killed_dies_with_it(served: Served) -> None:
    """Ctrl-Z, then `kill -9 %1`: the stopped command must not hold the store for ever."""
    served.start()
    with _waiting(served, "stopped") as (process, child):
        process.send_signal(signal.SIGTSTP)
        _wait_state(child, "T")  # the command stopped along with its program
        process.kill()
        process.wait(timeout=60)
        _wait_gone(child)
    assert json.loads(served.run("incident", "list", "--json").stdout) == []


def _wait_state(pid: int, state: str) -> None:
    deadline = time.monotonic() + 60
    while _state(pid) != state:
        assert time.monotonic() < deadline, f"process {pid} never reached state {state}"
        time.sleep(0.05)


def test_a_server_killed_during_a_command_still_hands_back_its_exit_status(
    served: Served,
) -> None:
    server = served.start()
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    with _waiting(served, "outlives", **pipes) as (process, _child):
        os.kill(server, signal.SIGKILL)
        _wait_gone(server)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err  # the command's own status, not "unknown"
    titles = [i["title"] for i in json.loads(served.run("incident", "list", "--json").stdout)]
    assert titles == ["outlives"]


def test_the_log_names_only_commands_never_what_they_were_given(served: Served) -> None:
    served.start()
    for args in [
        ("status", "s3cr3t-token"),
        ("config", "postgres://u:PASSW0RD@db/x"),
        ("incident", "list\n2026-01-01T00:00:00Z 1 FORGED"),
        ("audit", "\x1b]0;pwn\x07\x1b[2J"),
        ("incident", "\udcff"),  # a byte that is not UTF-8, as the shell passes it
    ]:
        result = subprocess.run(
            [OPSBOOK.encode(), *(os.fsencode(a) for a in args)], cwd=served.folder,
            env=served.env, capture_output=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
    text = served.socket.with_suffix(".log").read_bytes()
    assert text.isascii() and b"s3cr3t" not in text and b"PASSW0RD" not in text
    assert b"FORGED" not in text and b"\x1b" not in text
    assert [line.split(b" ", 2)[2] for line in text.splitlines()] == [
        b"status ?",
        b"config ?",
        b"incident ?",
        b"audit ?",
        b"incident ?",
    ]
    assert served.socket.with_suffix(".log").stat().st_mode & 0o777 == 0o600
    assert served.run("incident", "list").returncode == 0  # still the same server


def test_a_served_command_keeps_the_callers_resource_limits(served: Served) -> None:
    """`ulimit -f 0`-style limits hold for a served command as for one run in process:
    writing past the file-size limit fails (Python ignores SIGXFSZ), said in one line."""
    served.start()
    out = served.folder / "out.txt"

    def limited(server: bool) -> tuple[int, str, int]:
        env = dict(served.env) | ({} if server else {"OPSBOOK_SERVER": "off"})
        with out.open("wb") as sink:
            done = subprocess.run(
                [OPSBOOK, "runbook", "list"], cwd=served.folder, env=env, stdout=sink,
                stderr=subprocess.PIPE, text=True, timeout=120,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100)),
            )  # fmt: skip
        return done.returncode, done.stderr, out.stat().st_size

    here, through = limited(server=False), limited(server=True)
    assert here == (1, "error: cannot write the output: File too large\n", 100)
    assert through == here
    assert len(served.log()) == 1  # the second one was served
    unlimited = served.run("runbook", "list")  # the limit was the caller's, not the server's
    assert unlimited.returncode == 0 and len(unlimited.stdout) > 100
