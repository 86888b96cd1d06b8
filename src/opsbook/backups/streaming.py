"""A backup's dump folder as pg_restore reads it, decompressed as it is read.

A restore used to decompress every `.zst` file into a working copy first and then start
pg_restore: the whole database written to disk once more, and the decompression not
overlapping the loading at all. Here each data file is a named pipe (FIFO) under its
plain name; pg_restore opens them in its own order (with `-j`, several at once), and a
feeder decompresses into each pipe as soon as a reader has it open. Nothing large is
written, and decompression runs beside the loading.

pg_restore's directory format opens a data file with a plain `fopen` and reads it once
from start to end, which a pipe satisfies. A pipe is opened for writing without blocking
(`O_NONBLOCK`: ENXIO until a reader is there), so one watcher thread serves any number of
tables and a pipe pg_restore never opens (a failed restore) holds no thread. A writer
whose reader went away (pg_restore stopped at an error) gets EPIPE and ends.

A file that fails to decompress (a changed byte fails its frame's checksum; one cut short
decompresses to fewer bytes than the manifest says were written) keeps its pipe open:
closing it would be an end of data to pg_restore, which would commit the rows so far.
The caller's `check`, run while it waits for pg_restore, raises BackupFailed naming the
table; it then stops pg_restore, and that table's COPY is rolled back with its session.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from opsbook.backups import files
from opsbook.backups.errors import BackupFailed
from opsbook.console import visible

POLL = 0.005  # seconds between looks for a reader on the pipes not yet opened


@dataclass
class Streamed:
    """The folder pg_restore reads, and what went wrong feeding it."""

    folder: Path
    failures: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    feeder: _Feeder | None = None
    table_of: Callable[[str], str | None] = lambda _file: None  # "3358.dat.zst" -> "public.t"

    def check(self) -> None:
        """BackupFailed naming the files (and their tables) that did not decompress."""
        if not self.failures:
            return
        said = []
        for file, why in self.failures[:3]:
            table = self.table_of(file)
            said.append(f"the rows of {table} ({file}): {why}" if table else f"{file}: {why}")
        raise BackupFailed("cannot decompress " + "; ".join(said))

    def finish(self) -> None:
        """After pg_restore has ended well: wait for the feeders, then `check`."""
        if self.feeder is not None:
            self.feeder.stop()
        self.check()


class _Feeder:
    """Opens each pipe for writing once pg_restore opens it for reading, and decompresses
    its file into it on a thread of its own."""

    def __init__(
        self, pipes: dict[Path, Path], streamed: Streamed, raw_bytes: Mapping[str, int]
    ) -> None:
        self._pending = dict(pipes)
        self._streamed = streamed
        self._raw_bytes = raw_bytes
        self._stop = threading.Event()
        self._writers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, name="restore-feeder", daemon=True)

    def start(self) -> None:
        self._watcher.start()

    def stop(self) -> None:
        """Idempotent: the writers end once pg_restore has closed their pipes."""
        self._stop.set()
        if self._watcher.is_alive():
            self._watcher.join()
        for writer in self._writers:
            writer.join()

    def _watch(self) -> None:
        while self._pending and not self._stop.is_set():
            for pipe in list(self._pending):
                fd = _open_if_read(pipe)
                if fd is not None:
                    source = self._pending.pop(pipe)
                    writer = threading.Thread(target=self._write, args=(fd, source), daemon=True)
                    self._writers.append(writer)
                    writer.start()
            time.sleep(POLL)

    def _write(self, fd: int, source: Path) -> None:
        os.set_blocking(fd, True)
        try:
            with (
                files.open_regular(source) as src,
                os.fdopen(fd, "wb", buffering=0, closefd=False) as dst,
            ):
                _, written = zstandard.ZstdDecompressor().copy_stream(
                    src, dst, read_size=files.CHUNK, write_size=files.CHUNK
                )
            raw = self._raw_bytes.get(source.name)
            if raw is not None and written != raw:
                self._failed(
                    source,
                    f"{written:,} bytes decompressed where {raw:,} were written:"
                    " the file is cut short or damaged",
                )
        except BrokenPipeError:
            pass  # pg_restore stopped reading: its own error says why
        except (OSError, zstandard.ZstdError) as exc:
            self._failed(source, files.why(exc))
        finally:
            os.close(fd)

    def _failed(self, source: Path, why: str) -> None:
        """Remember why, and hold the pipe open until stopped (see the module's docstring)."""
        with self._lock:
            self._streamed.failures.append((source.name, why))
        self._stop.wait()


def _open_if_read(pipe: Path) -> int | None:
    """The pipe's write end once a reader has it open, else None (never blocks)."""
    try:
        return os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            return None
        raise


@contextmanager
def streamed_copy(
    folder: Path,
    work_root: Path,
    *,
    leave: Collection[str] = (),
    raw_bytes: Mapping[str, int] | None = None,
    table_of: Callable[[str], str | None] = lambda _file: None,
) -> Iterator[Streamed]:
    """The backup's dump folder with every `.zst` file a pipe fed as it is read, in a
    temporary folder under `work_root`, removed afterwards whatever happens; the files
    named in `leave` are left out (another feeder reads them: split.py). `raw_bytes` is
    each file's size before compression (by name), as the manifest says; `table_of`
    names a file's table for an error. The backup is only read."""
    work_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".restore-", dir=work_root))
    streamed = Streamed(work / files.DUMP, table_of=table_of)
    try:
        streamed.folder.mkdir()
        pipes: dict[Path, Path] = {}
        for path in sorted((folder / files.DUMP).iterdir()):
            if path.name in leave:
                continue
            if path.suffix == ".zst":
                pipe = streamed.folder / path.stem
                os.mkfifo(pipe, stat.S_IRUSR | stat.S_IWUSR)
                pipes[pipe] = path
            elif path.is_file():
                _copy(path, streamed.folder)
        streamed.feeder = _Feeder(pipes, streamed, raw_bytes or {})
        streamed.feeder.start()
        yield streamed
    finally:
        if streamed.feeder is not None:
            streamed.feeder.stop()
        shutil.rmtree(work, ignore_errors=True)


def _copy(path: Path, folder: Path) -> None:
    """A small file of the backup (toc.dat) copied into the restore's work folder; a full
    disk there is said as that, not as the backup's own file."""
    try:
        shutil.copyfile(path, folder / path.name)
    except OSError as exc:
        raise BackupFailed(
            f"cannot copy {path.name} into the restore's work folder {visible(str(folder))}:"
            f" {exc.strerror or exc}; the backup itself is only read"
        ) from None
