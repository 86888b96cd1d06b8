"""The warm process: opsbook imported once, a forked child per quick command.

`python -P -m opsbook.cliserver.server SOCKET [--idle SECONDS]`, started by the client.
One server per socket (a lock beside it); it exits after `--idle` seconds with no command
running, when its socket is gone or replaced, or when a file it imported changed (a new
version: the command that found it runs in process and the next one starts a new server).
It serves only its own user (SO_PEERCRED) and holds no secrets: each command's
environment reaches only that command's child.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import gc
import importlib
import os
import select
import signal
import socket
import sys
import time
import traceback
from pathlib import Path

from opsbook.cliserver import child, wire

IDLE = 600.0  # seconds without a command before the server exits
LOCK_WAIT = 10.0  # seconds a new server waits for the one it replaces to let go
# A client gone: its connection hung up (it never half-closes it otherwise).
GONE = select.POLLRDHUP | select.POLLHUP | select.POLLERR | select.POLLNVAL


class Server:
    """The accept loop. The server never reads a request: the child it forks for each
    connection does, so a slow or hostile sender holds up only its own child, and no
    command's environment or arguments ever pass through the server's memory."""

    def __init__(self, path: Path, *, idle: float, lock: int) -> None:
        self.path, self.idle, self.lock = path, idle, lock
        self.log = path.with_suffix(".log")
        self.children: dict[int, socket.socket] = {}
        self.last = time.monotonic()
        self.imported = _imported_files()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.wakeup_read, self.wakeup_write = os.pipe()
        self.poll = select.poll()
        self.inode = 0

    def listen(self) -> None:
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()
        self.listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self.listener.listen(64)
        self.inode = os.stat(self.path).st_ino

    def run(self) -> None:
        os.set_blocking(self.wakeup_write, False)
        os.set_blocking(self.wakeup_read, False)
        signal.set_wakeup_fd(self.wakeup_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: None)
        self.poll.register(self.listener, select.POLLIN)
        self.poll.register(self.wakeup_read, select.POLLIN)
        while True:
            for fd, events in self.poll.poll(1000):
                try:
                    self._event(fd, events)
                except Exception:
                    traceback.print_exc()
            self._reap()
            if self._done():
                break
        self._close()

    def _event(self, fd: int, events: int) -> None:
        if fd == self.listener.fileno():
            self._accept()
        elif fd == self.wakeup_read:
            if signal.SIGTERM in _drain(self.wakeup_read):
                self.idle = 0.0
        elif events & GONE:
            self._client_gone(fd)

    def _client_gone(self, fd: int) -> None:
        """The client died (killed, its terminal closed) while its command runs: the
        command dies too, as in the client's own process, even if it is stopped (Ctrl-Z,
        then `kill -9 %1`) and cannot see it for itself."""
        self.poll.unregister(fd)
        for pid, conn in self.children.items():
            if conn.fileno() == fd:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def _done(self) -> bool:
        if self.children:
            return False
        if time.monotonic() - self.last >= self.idle:
            return True
        try:
            return os.stat(self.path).st_ino != self.inode
        except OSError:
            return True

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.last = time.monotonic()
        try:
            if _peer_uid(conn) != os.getuid():
                conn.close()
                return
            stale = _changed(self.imported)
            if stale:
                wire.send_reply(conn, wire.REFUSED, 0, f"{stale} changed since the server began")
                self.idle = 0.0
                self._unlink()
                conn.close()
                return
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                self.listener.close()
                for fd in (self.wakeup_read, self.wakeup_write, self.lock):
                    os.close(fd)
                for other in self.children.values():
                    other.close()
                child.run_command(conn, self.log)
            self.children[pid] = conn
            self.poll.register(conn, GONE)
        except OSError:
            conn.close()

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            with contextlib.suppress(OSError, KeyError, ValueError):
                self.poll.unregister(conn)
            with contextlib.suppress(OSError):
                wire.send_reply(conn, wire.EXITED, code)
            conn.close()
            self.last = time.monotonic()

    def _unlink(self) -> None:
        try:
            if os.stat(self.path).st_ino == self.inode:
                self.path.unlink()
        except OSError:
            pass

    def _close(self) -> None:
        """Stop listening, then mark the lock as free at once for the client's next start
        (`client.RETRY` counts from its time) and let it go."""
        self._unlink()
        self.listener.close()
        with contextlib.suppress(OSError):
            os.utime(self.lock, (0, 0))
        os.close(self.lock)


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return int.from_bytes(creds[4:8], sys.byteorder)


def _drain(fd: int) -> set[int]:
    found: set[int] = set()
    while True:
        try:
            data = os.read(fd, 512)
        except BlockingIOError:
            return found
        if not data:
            return found
        found.update(data)


def _imported_files() -> dict[str, float]:
    """What a new version would change: opsbook's own imported files and every folder of
    the import path (installing or upgrading a package changes its folder's entries)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(wire.__file__)))
    paths = {
        file
        for module in list(sys.modules.values())
        if isinstance(file := getattr(module, "__file__", None), str) and file.startswith(package)
    }
    paths |= {p for p in sys.path if p}
    found = {}
    for path in paths:
        with contextlib.suppress(OSError):
            found[path] = os.stat(path).st_mtime
    return found


def _changed(files: dict[str, float]) -> str | None:
    for path, mtime in files.items():
        try:
            if os.stat(path).st_mtime != mtime:
                return path
        except OSError:
            return path
    return None


def preload() -> None:
    """What every command would do first, done once: import every command's module, build
    the click commands, configure SQLAlchemy's mappers (70 ms of `incident list` alone),
    then keep the collector off all of it."""
    from sqlalchemy.orm import configure_mappers

    from opsbook import cli

    root = cli.command()
    for name in list(root.commands):
        root.commands[name]  # loads it
    importlib.import_module("sqlalchemy.dialects.sqlite")
    importlib.import_module("sqlalchemy.dialects.postgresql")
    configure_mappers()
    gc.collect()
    gc.freeze()


def _take(lock: int, replacing: bool) -> bool:
    """The lock, or False when another server holds it. A server replacing a stale one
    waits up to LOCK_WAIT for it to finish its last commands and let go."""
    deadline = time.monotonic() + (LOCK_WAIT if replacing else 0.0)
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(prog="opsbook.cliserver.server")
    parser.add_argument("socket", type=Path)
    parser.add_argument("--idle", type=float, default=IDLE)
    parser.add_argument("--replacing", action="store_true", help="an older server was stale")
    args = parser.parse_args()
    path: Path = args.socket
    if not wire.private_folder(str(path.parent)):
        sys.exit(f"{path.parent} is not a private folder of this user")
    lock = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    if not _take(lock, args.replacing):
        return  # another server for this socket is starting or running
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())  # who holds it: `kill $(cat X.lock)`
    preload()
    server = Server(path, idle=args.idle, lock=lock)
    server.listen()
    server.run()


if __name__ == "__main__":
    main()
