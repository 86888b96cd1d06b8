"""What the client and the server of `opsbook.cliserver` say to each other, and where.

The standard library only: the client imports this before anything else.

A request is one JSON object (argv, cwd, environment, umask, encodings, the signals the
caller ignores, its resource limits) behind its length, sent with the client's three standard file
descriptors attached (SCM_RIGHTS). The server forks a child for each connection, which
answers `P` and its pid before it reads anything (so `P` always comes first), reads the
request, runs the command and answers `X` and its exit status; the server answers `X`
too as it reaps the child (the only `X` when a signal ended it), or, instead of forking,
`R` and a reason when it will not run it (the client then runs the command itself)."""

from __future__ import annotations

import array
import json
import os
import socket
import stat
import struct
import sys
import time
import zlib

TYPE_CHECKING = False  # typing, pathlib, hashlib: 25 ms of a start that should take 0.2 s
if TYPE_CHECKING:
    from typing import Any

MAX_SOCKET_PATH = 100  # bytes: a Unix socket's path must fit sockaddr_un (108 on Linux)
MAX_REQUEST = 1 << 20  # bytes of JSON: argv and environment; a larger one runs in process
_LENGTH = struct.Struct("!I")
_REPLY = struct.Struct("!ci")  # kind, value (pid, exit status, or reason length)
STARTED, EXITED, REFUSED = b"P", b"X", b"R"
FDS = 3
# The caller's resource limits (`ulimit -f`, `-v`, `-t`, ...) its served command keeps:
# a child of the server would otherwise have the server's.
LIMITS = (
    "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE",
    "RLIMIT_MEMLOCK", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_STACK",
)  # fmt: skip

# Variables that libraries read once, when they are imported (colours, widths, encodings,
# Python's own): a server imported them under one set of values, so other values need a
# server of their own. Every other variable travels with each request.
IMPORT_TIME: tuple[str, ...] = (
    "PYTHON",
    "FORCE_COLOR",
    "NO_COLOR",
    "PY_COLORS",
    "TERMINAL_WIDTH",
    "_TYPER_",
)
IMPORT_TIME += ("GITHUB_ACTIONS", "TTY_", "COLORTERM", "TERM", "LANG", "LC_", "JUPYTER_")


ROOT_VALUES = ("--config", "-c")  # the root options that take a value


def command_words(argv: list[str]) -> list[str] | None:
    """The command's first words (its group and the command in it) of `argv` (without the
    program's name); None when an option other than the root's --config comes first."""
    words: list[str] = []
    rest = iter(argv)
    for word in rest:
        if not word.startswith("-"):
            words.append(word)
            if len(words) == 2:
                break
        elif words:
            break  # the command's own options: `status --json`
        elif word in ROOT_VALUES:
            next(rest, None)
        elif not word.startswith(tuple(f"{o}=" for o in ROOT_VALUES)):
            return None
    return words


def import_env(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The variables a server's imports depend on (`IMPORT_TIME`), and nothing secret."""
    return {k: v for k, v in environ.items() if k.startswith(IMPORT_TIME)}


def folder(environ: dict[str, str] | os._Environ[str]) -> str:
    """Where this user's servers listen: $XDG_RUNTIME_DIR/opsbook, else /tmp/opsbook-UID."""
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "opsbook")
    return f"/tmp/opsbook-{os.getuid()}"


def private_folder(path: str) -> bool:
    """Whether `path` is a real folder of this user's that nobody else can write, made if
    missing: anyone who could put a socket there could read every command's terminal."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077


def socket_path(environ: dict[str, str] | os._Environ[str]) -> str:
    """The socket of the server for this interpreter, these imports and this environment."""
    identity = json.dumps([sys.executable, sys.path, sorted(import_env(environ).items())])
    data = identity.encode(errors="surrogateescape")
    key = f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"
    return os.path.join(folder(environ), f"{key}.sock")


def beside(path: str, suffix: str) -> str:
    """The server's other files, named after its socket: `.lock`, `.log`."""
    return path.removesuffix(".sock") + suffix


def send_request(conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    body = json.dumps(request).encode()
    if len(body) > MAX_REQUEST:
        raise ValueError(f"request of {len(body):,} bytes is over {MAX_REQUEST:,}")
    data = _LENGTH.pack(len(body)) + body
    sent = conn.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    conn.sendall(data[sent:])


def receive_request(conn: socket.socket, *, deadline: float) -> tuple[dict[str, Any], list[int]]:
    """The request and the descriptors that came with it, whole by `deadline` (monotonic);
    ValueError for anything else (the descriptors that did come are closed)."""
    fds = array.array("i")
    data, ancillary, _flags, _addr = conn.recvmsg(65536, socket.CMSG_SPACE(FDS * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    try:
        if len(fds) != FDS or len(data) < _LENGTH.size:
            raise ValueError("not a request")
        (length,) = _LENGTH.unpack_from(data)
        if length > MAX_REQUEST:
            raise ValueError(f"request of {length:,} bytes is over {MAX_REQUEST:,}")
        body = bytearray(data[_LENGTH.size :])
        while len(body) < length:
            if time.monotonic() > deadline:
                raise ValueError("request too slow")
            more = conn.recv(min(65536, length - len(body)))
            if not more:
                raise ValueError("request cut short")
            body += more
        request = json.loads(bytes(body[:length]))
        if not isinstance(request, dict):
            raise ValueError("not a request")
        return request, list(fds)
    except (ValueError, UnicodeDecodeError):
        for fd in fds:
            os.close(fd)
        raise


def send_reply(conn: socket.socket, kind: bytes, value: int, text: str = "") -> None:
    body = text.encode()[:4096]
    conn.sendall(_REPLY.pack(kind, len(body) if kind == REFUSED else value) + body)


def receive_reply(conn: socket.socket) -> tuple[bytes, int, str] | None:
    """The next reply, or None when the server closed the connection."""
    head = _receive_exactly(conn, _REPLY.size)
    if head is None:
        return None
    kind, value = _REPLY.unpack(head)
    if kind != REFUSED:
        return kind, value, ""
    text = _receive_exactly(conn, value) or b""
    return kind, 0, text.decode(errors="replace")


def _receive_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        more = conn.recv(size - len(data))
        if not more:
            return None
        data += more
    return data
