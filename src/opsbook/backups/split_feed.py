"""One table's rows cut into several streams, each a named pipe one pg_restore reads.

A table loads at the speed of one COPY, one backend on one core, however many jobs
pg_restore has: on the 2-core bench a 480 MB COPY into one table took 12.4-13.8 s as one
stream and 8.4-9.0 s as two concurrent COPYs of half the rows each. So one thread
decompresses the table's file and hands newline-aligned chunks to one writer per pipe.

Cutting after a b"\\n" is safe: in COPY text a row ends at an unescaped newline, and a
newline inside a value is written as the two characters `\\n`. pg_dump's directory
format ends the file with a `\\.` line and blank lines (seen in pg_dump 15: `\\.\\n\\n\\n`);
those are dropped here, since a blank line reaching another stream would be a row, and
each COPY ends when its pipe closes.

A chunk goes to the first writer, in turn, whose queue has room, so a slower stream gets
fewer chunks instead of holding the others back; row order does not matter (content
checksums are sums). Nothing waits forever: a writer whose reader went away (EPIPE) or
never came throws its chunks away until `stop`, and every wait looks at `stop` often.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import zstandard

from opsbook.backups import files

BLOCK = 4 * files.CHUNK  # bytes read at a time; a chunk is about this size
DEPTH = 4  # chunks waiting per writer
WAIT = 0.05  # seconds between looks at `stop` while a queue is full or empty
_END = b""  # put on each queue once the file is read whole


class SplitFeeder:
    """Feeds `pipes` with the rows of the data file `source` (`.zst` or plain)."""

    def __init__(self, source: Path, pipes: list[Path], *, raw_bytes: int | None = None) -> None:
        self.source = source
        self.raw_bytes = raw_bytes  # its size before compression, when the manifest says
        self.failure: str | None = None  # why the file could not be read whole
        self.fed = [0] * len(pipes)  # bytes each pipe was given
        self._pipes = pipes
        self._queues: list[queue.Queue[bytes]] = [queue.Queue(DEPTH) for _ in pipes]
        self._dead = [False] * len(pipes)
        self._stop = threading.Event()
        self._turn = 0
        self._threads = [threading.Thread(target=self._read, name="split-reader", daemon=True)]
        self._threads += [
            threading.Thread(target=self._write, args=(n,), name="split-writer", daemon=True)
            for n in range(len(pipes))
        ]

    def start(self) -> SplitFeeder:
        for thread in self._threads:
            thread.start()
        return self

    def done(self, within: float) -> bool:
        """Whether the file was read and handed on to the end, waiting up to `within`
        seconds for that: once every stream has ended, it must be (a stream whose
        pg_restore never opened its pipe would leave the rest of the rows unhanded)."""
        self._threads[0].join(timeout=within)
        return not self._threads[0].is_alive()

    def stop(self) -> None:
        """Idempotent; call once the readers have ended or been killed (a writer blocked on
        a live reader that never reads would wait for it)."""
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _read(self) -> None:
        try:
            with files.open_regular(self.source) as raw:
                read = self._cut(_blocks(raw, zst=self.source.suffix == ".zst"))
        except (OSError, zstandard.ZstdError) as exc:
            self.failure = files.why(exc)
            return  # no end marks: the pg_restores wait until they are killed
        if self.raw_bytes is not None and read != self.raw_bytes and not self._stop.is_set():
            self.failure = (
                f"{read:,} bytes decompressed where {self.raw_bytes:,} were written:"
                " the file is cut short or damaged"
            )
            return
        for n in range(len(self._queues)):
            while not self._put(n, _END) and not self._stop.is_set():
                continue  # a writer whose reader never came drains nothing until `stop`

    def _cut(self, blocks: Iterator[bytes]) -> int:
        """Hands the rows on; how many bytes there were."""
        carry = b""
        ended = False
        read = 0
        for block in blocks:
            if self._stop.is_set():
                return read
            read += len(block)
            data = carry + block
            cut = data.rfind(b"\n") + 1
            chunk, carry = data[:cut], data[cut:]
            if ended or not chunk:
                continue  # after the `\\.` line only blank lines come
            chunk, ended = _without_terminator(chunk)
            if chunk:
                self._hand(chunk)
        if carry and not ended and carry != b"\\.":
            self._hand(carry)  # a last row without its newline: COPY takes it as it is
        return read

    def _hand(self, chunk: bytes) -> None:
        """To the next writer in turn with room, else wait for the one whose turn it is."""
        count = len(self._queues)
        while not self._stop.is_set():
            for step in range(count):
                n = (self._turn + step) % count
                try:
                    self._queues[n].put_nowait(chunk)
                except queue.Full:
                    continue
                self._turn = (n + 1) % count
                return
            if self._put(self._turn, chunk):
                self._turn = (self._turn + 1) % count
                return

    def _put(self, n: int, chunk: bytes) -> bool:
        try:
            self._queues[n].put(chunk, timeout=WAIT)
        except queue.Full:
            return False
        return True

    def _write(self, n: int) -> None:
        try:
            fd = self._open(self._pipes[n])
        except OSError as exc:
            self.failure, fd = f"{self._pipes[n].name}: {exc.strerror or exc}", None
        try:
            while not self._stop.is_set():
                try:
                    chunk = self._queues[n].get(timeout=WAIT)
                except queue.Empty:
                    continue
                if not chunk:  # _END
                    return
                if fd is not None and not self._dead[n]:
                    self._send(n, fd, chunk)
        finally:
            if fd is not None:
                os.close(fd)  # the reader's end of data: its COPY ends

    def _send(self, n: int, fd: int, chunk: bytes) -> None:
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except BrokenPipeError:
            self._dead[n] = True  # its pg_restore stopped: its own error says why
        self.fed[n] += len(chunk) - len(view)

    def _open(self, pipe: Path) -> int | None:
        """The pipe's write end once its reader has opened it; None when stopped first
        (a pg_restore that failed before opening it)."""
        while not self._stop.is_set():
            try:
                fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                self._stop.wait(WAIT / 10)
                continue
            os.set_blocking(fd, True)
            return fd
        return None


def _blocks(raw: BinaryIO, *, zst: bool) -> Iterator[bytes]:
    """The file's bytes, decompressed when `zst`, at most BLOCK at a time however well
    they compressed. (A zstd stream reader takes a file cut short for a whole one,
    python-zstandard 0.25: `raw_bytes` is what catches that.)"""
    src: BinaryIO = (
        zstandard.ZstdDecompressor().stream_reader(raw, read_size=files.CHUNK) if zst else raw
    )
    while block := src.read(BLOCK):
        yield block


def _without_terminator(chunk: bytes) -> tuple[bytes, bool]:
    """`chunk` without pg_dump's closing `\\.` line and what follows it, and whether it was
    there. A line holding only `\\.` is never a row: a value `\\.` is written `\\\\.`."""
    rows = chunk.rstrip(b"\n")
    if rows.endswith(b"\\.") and (len(rows) == 2 or rows[-3:-2] == b"\n"):
        return rows[:-2], True
    return chunk, False
