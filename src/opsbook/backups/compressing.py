"""pg_dump's data files compressed while pg_dump is still writing them.

Compressing after the dump made a backup take the dump's time plus the compression's
(about a third more on the 2 GB bench): the database server was busy with one large
table while a core sat idle. A `Follower` reads each data file as it grows and writes its
zstd frame beside it, hashing what it writes, so once pg_dump ends little is left to do.

A data file is complete once pg_dump says so: with `-j`, its leader's "finished item N
TABLE DATA" line (the worker closed the file before it reported); with one job, pg_dump
writes one table at a time, so a newer data file means the older ones are closed; and
every file is complete once pg_dump has exited. A complete file read to its end is
finished: its frame flushed, its raw copy removed.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import zstandard

from opsbook.backups import files

BUDGET = 8 * files.CHUNK  # bytes read from one file before the next gets its turn
IDLE = 0.02  # seconds to wait when no file had anything new


@dataclass
class Compressed:
    """What each compressed file holds, by its name in the dump folder (`3001.dat.zst`)."""

    raw_sizes: dict[str, int] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)


def compressor(level: int) -> zstandard.ZstdCompressor:
    """zstd at `level`, each frame ending with a checksum of its content (XXH64, 4 bytes):
    a byte changed where the format cannot tell (inside a stored block) still fails the
    decompression of a restore that never ran `backup verify`."""
    return zstandard.ZstdCompressor(level=level, write_checksum=True)


class _Followed:
    """One data file being compressed as it grows."""

    def __init__(self, path: Path, level: int) -> None:
        self.path = path
        self.target = path.with_name(path.name + ".zst")
        self.complete = False
        self.raw = 0
        self._digest = hashlib.sha256()
        self._src: BinaryIO = path.open("rb")
        self._dst: BinaryIO = self.target.open("wb")
        self._compressor = compressor(level).compressobj()

    def pump(self) -> bool:
        """Compress what has been written since the last turn, up to BUDGET; whether the
        file's current end was reached."""
        read = 0
        while read < BUDGET:
            chunk = self._src.read(files.CHUNK)
            if not chunk:
                return True
            read += len(chunk)
            self.raw += len(chunk)
            self._write(self._compressor.compress(chunk))
        return False

    def finish(self) -> str:
        """The frame ended and flushed, the raw file removed; the frame's sha256."""
        self._write(self._compressor.flush())
        self.close()
        self.path.unlink()
        return self._digest.hexdigest()

    def close(self) -> None:
        self._src.close()
        self._dst.close()

    def _write(self, data: bytes) -> None:
        if data:
            self._dst.write(data)
            self._digest.update(data)


class Follower:
    """Compresses the data files appearing in `folder` on a thread of its own, until
    `close` (pg_dump has ended) or `abort`."""

    def __init__(self, folder: Path, level: int, *, one_at_a_time: bool) -> None:
        self.folder = folder
        self.level = level
        self.one_at_a_time = one_at_a_time
        self.done = Compressed()
        self._open: dict[str, _Followed] = {}
        self._finished: set[str] = set()  # data files pg_dump said it finished
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="dump-compressor", daemon=True)

    def start(self) -> Follower:
        self._thread.start()
        return self

    def finished(self, item: str) -> None:
        """pg_dump finished the data of TOC item `item` (its file is `<item>.dat`)."""
        with self._lock:
            self._finished.add(f"{item}.dat")

    def close(self) -> Compressed:
        """After pg_dump has exited: the rest compressed; what each file holds."""
        self._ended.set()
        self._thread.join()
        if self._failure is not None:
            raise self._failure
        return self.done

    def abort(self) -> None:
        """Stop at once (pg_dump failed or was stopped); files are left as they are."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                ended = self._ended.is_set()  # read first: every file is closed once set
                self._discover()
                idle = self._turn(ended)
                if ended and not self._open:
                    return
                if idle:
                    self._stop.wait(IDLE)
        except BaseException as exc:  # handed to `close`, which the dumping thread calls
            self._failure = exc
        finally:
            for followed in self._open.values():
                followed.close()

    def _discover(self) -> None:
        if not self.folder.is_dir():
            return  # pg_dump makes it
        known = set(self._open) | {name.removesuffix(".zst") for name in self.done.raw_sizes}
        new = [path for path in files.data_files(self.folder) if path.name not in known]
        if new and self.one_at_a_time:
            # Closed before any newer file was made; of several new ones, which is still
            # being written is not known until the next one appears (or pg_dump ends).
            for older in self._open.values():
                older.complete = True
        for path in new:
            self._open[path.name] = _Followed(path, self.level)

    def _turn(self, ended: bool) -> bool:
        """One turn over the open files; whether none had anything new."""
        with self._lock:
            for name in self._finished & set(self._open):
                self._open[name].complete = True
        idle = True
        for name, followed in list(self._open.items()):
            at_end = followed.pump()
            idle = idle and at_end
            if at_end and (followed.complete or ended):
                digest = followed.finish()
                del self._open[name]
                self.done.raw_sizes[followed.target.name] = followed.raw
                self.done.digests[followed.target.name] = digest
        return idle
