"""One table's rows cut across several pipes: every row arrives whole in exactly one
stream, pg_dump's closing `\\.` line and blank lines reach none, hostile row text is only
bytes; a file that does not decompress (a flipped byte, a file cut short) is named; a
reader that stops early or never opens its pipe never hangs the feeder. (The restores
through real pg_restore are in test_split.)"""

from __future__ import annotations

import os
import random
import select
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import zstandard

from opsbook.backups import compressing, split_feed
from opsbook.backups.split_feed import SplitFeeder
from tests.backups.conftest import read_pipes
from tests.conftest import wait_for

HOSTILE = [
    b"1\tplain\n",
    b"2\ttab\\there, newline\\nthere, backslash \\\\ and 'quotes' \"too\"\n",
    b"3\t\\\\.\n",  # a value `\.`: written escaped, so a row, never the end
    b"4\t\\N\n",
    b"5\t; rm -rf / $(reboot) `id` [/x][bold]\\033[31m\n",
    b"6\t\n",
    b"7\t\x00 NUL and \x1b[2J an ANSI escape, as bytes\n",
    b"\n",  # a one-column row holding the empty string
]


def _rows(count: int) -> bytes:
    return b"".join(b'%d\t%s\t{a,b}\t{"k": %d}\n' % (n, b"x" * (n % 97), n) for n in range(count))


def _file(tmp_path: Path, body: bytes, *, name: str = "3001.dat.zst") -> Path:
    path = tmp_path / name
    if name.endswith(".zst"):
        path.write_bytes(zstandard.ZstdCompressor(level=1).compress(body))
    else:
        path.write_bytes(body)
    return path


def _pipes(tmp_path: Path, count: int) -> list[Path]:
    pipes = []
    for n in range(count):
        pipe = tmp_path / f"pipe{n}"
        os.mkfifo(pipe, stat.S_IRUSR | stat.S_IWUSR)
        pipes.append(pipe)
    return pipes


@pytest.mark.parametrize("name", ["3001.dat.zst", "3001.dat"])
def test_every_row_arrives_whole_in_one_stream_and_the_end_line_in_none(
    tmp_path: Path, name: str
) -> None:
    rows = _rows(200_000) + b"".join(HOSTILE)  # 6+ MB: many chunks
    source = _file(tmp_path, rows + b"\\.\n\n\n", name=name)
    pipes = _pipes(tmp_path, 3)
    feeder = SplitFeeder(source, pipes).start()
    found = list(read_pipes(pipes).values())
    assert feeder.done(10.0)  # every pipe closed: the file was handed on to its end
    feeder.stop()
    assert feeder.failure is None
    assert all(found) and feeder.fed == [len(f) for f in found]  # each stream had rows
    assert all(f.endswith(b"\n") for f in found)  # cut only after a row's end
    lines = [line for f in found for line in f.split(b"\n")[:-1]]
    assert sorted(lines) == sorted(rows.split(b"\n")[:-1])
    assert b"\\." not in lines


def test_the_end_line_alone_in_the_last_block_reaches_no_stream(tmp_path: Path) -> None:
    """The terminator and its blank lines may be cut from the rows before them."""
    first = b"a\n" * (split_feed.BLOCK // 2)  # exactly one block of rows, then the end on its own
    source = _file(tmp_path, first + b"\\.\n\n\n", name="3001.dat")
    pipes = _pipes(tmp_path, 2)
    feeder = SplitFeeder(source, pipes).start()
    found = list(read_pipes(pipes).values())
    feeder.stop()
    assert b"".join(found) == first


@contextmanager
def _drained(pipes: list[Path]) -> Iterator[None]:
    """Readers that hold the pipes open and throw away what comes, like pg_restores that
    will be killed: they never end a pipe, so only `stop` ends the feeder."""
    held = [os.open(p, os.O_RDONLY | os.O_NONBLOCK) for p in pipes]
    done = threading.Event()

    def drain() -> None:
        while not done.is_set():
            ready, _, _ = select.select(held, [], [], 0.05)
            for fd in ready:
                with suppress(BlockingIOError):
                    os.read(fd, 1 << 20)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        yield
    finally:
        done.set()
        reader.join()
        for fd in held:
            os.close(fd)


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda packed: b"\x00" + packed[1:], "Unknown frame descriptor"),
        (lambda packed: packed[: len(packed) // 2], "cut short or damaged"),
    ],
    ids=["flipped-byte", "cut-short"],
)
def test_a_damaged_file_is_named(
    tmp_path: Path, damage: Callable[[bytes], bytes], said: str
) -> None:
    body = b"".join(b"%d\t%s\n" % (n, os.urandom(16).hex().encode()) for n in range(300_000))
    whole = body + b"\\.\n\n\n"
    source = _file(tmp_path, whole)
    source.write_bytes(damage(source.read_bytes()))
    assert said in _failure(tmp_path, source, len(whole))


def _failure(tmp_path: Path, source: Path, raw_bytes: int) -> str:
    """What a feeder of `source` into two drained pipes failed with."""
    pipes = _pipes(tmp_path, 2)
    with _drained(pipes):
        feeder = SplitFeeder(source, pipes, raw_bytes=raw_bytes).start()
        try:
            wait_for(lambda: feeder.failure is not None)
        finally:
            feeder.stop()
    return feeder.failure or ""


def test_a_byte_changed_inside_a_stored_block_fails_on_the_frame_checksum(
    tmp_path: Path,
) -> None:
    """Rows of random bytes do not compress: zstd stores them as they are, so a changed
    byte decodes without complaint, the same size; only the frame's checksum catches it."""
    noise = random.Random(15).randbytes(2_000_000).replace(b"\n", b"x")
    whole = b"".join(noise[n : n + 99] + b"\n" for n in range(0, len(noise), 99))
    packed = bytearray(compressing.compressor(1).compress(whole))
    middle = len(packed) // 2
    packed[middle] ^= 0xFF
    source = tmp_path / "3001.dat.zst"
    source.write_bytes(bytes(packed))
    assert "checksum" in _failure(tmp_path, source, len(whole))


def test_a_feeder_whose_pipes_are_never_opened_is_not_done_and_still_stops(
    tmp_path: Path,
) -> None:
    """More chunks than the queues hold, no reader: the rows cannot all be handed on (what
    split._watch fails a restore for once the streams have ended)."""
    source = _file(tmp_path, b"x" * 99 + b"\n" * 1 + (b"y" * 99 + b"\n") * 450_000)
    feeder = SplitFeeder(source, _pipes(tmp_path, 2)).start()
    assert not feeder.done(0.2)
    feeder.stop()
    assert feeder.failure is None and feeder.fed == [0, 0]


def test_a_reader_that_stops_and_one_that_never_opens_do_not_hang(tmp_path: Path) -> None:
    source = _file(tmp_path, _rows(300_000))
    pipes = _pipes(tmp_path, 3)
    feeder = SplitFeeder(source, pipes).start()
    with pipes[0].open("rb") as quitter:
        assert quitter.read(10)  # then closes: its writer gets EPIPE and throws rows away
    found = list(read_pipes([pipes[1]]).values())  # pipes[2] is never opened
    assert found[0]
    feeder.stop()
    assert feeder.failure is None
