"""The last part of a program's output, however much it prints: a command that writes
50 MB (a dependency audit gone verbose, a deploy script in a loop) is read to its end, so
it never blocks on a full pipe, but only the last `limit` bytes are kept in memory."""

from __future__ import annotations

import asyncio
import threading
from typing import IO

LIMIT = 64 * 1024
CHUNK = 64 * 1024


class Tail:
    """Bytes fed in; the last `limit` of them kept, and how many were cut before."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self.total = 0
        self._kept = bytearray()

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._kept += chunk
        if len(self._kept) > 2 * self.limit:  # trimmed now and then, not on every chunk
            del self._kept[: -self.limit]

    def text(self) -> str:
        """The kept output, after `[... N bytes cut]` when some was cut."""
        kept = bytes(self._kept[-self.limit :])
        cut = self.total - len(kept)
        shown = kept.decode(errors="replace")
        return f"[... {cut} bytes cut]\n{shown}" if cut else shown


def read_in_thread(stream: IO[bytes], tail: Tail) -> threading.Thread:
    """Read `stream` to its end into `tail` from a thread (started); join it after."""

    def read() -> None:
        with stream:
            while chunk := stream.read(CHUNK):
                tail.add(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


async def read_async(stream: asyncio.StreamReader, tail: Tail) -> None:
    while chunk := await stream.read(CHUNK):
        tail.add(chunk)
