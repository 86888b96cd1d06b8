"""Data files compressed while they are written: a writer that appends in pieces (as
pg_dump does) gets every byte into the frame, whatever the follower saw in between; a
file is finished only once pg_dump says so (`-j`'s "finished item"), a newer file
appears (one job), or pg_dump has ended; the digests are those of the files written.
(Real pg_dump runs, one job and several, are in test_create.)"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import zstandard

from opsbook.backups import compressing
from tests.conftest import wait_for


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as out:
        out.write(data)


def _frame(folder: Path, name: str) -> bytes:
    data = (folder / f"{name}.zst").read_bytes()
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def test_a_file_growing_in_pieces_is_whole_in_its_frame(tmp_path: Path) -> None:
    follower = compressing.Follower(tmp_path, 1, one_at_a_time=False).start()
    pieces = [bytes([n % 251]) * (n * 7919 % 300_000) for n in range(40)]
    target = tmp_path / "3001.dat"
    for piece in pieces:
        _append(target, piece)
    wait_for(lambda: (tmp_path / "3001.dat.zst").exists())
    _append(target, b"last rows\n\\.\n\n")
    follower.finished("3001")
    wait_for(lambda: not target.exists())  # finished: its raw copy is gone
    done = follower.close()
    expected = b"".join(pieces) + b"last rows\n\\.\n\n"
    assert _frame(tmp_path, "3001.dat") == expected
    assert done.raw_sizes == {"3001.dat.zst": len(expected)}
    stored = (tmp_path / "3001.dat.zst").read_bytes()
    assert done.digests == {"3001.dat.zst": hashlib.sha256(stored).hexdigest()}


def test_a_file_is_not_finished_before_pg_dump_says_so(tmp_path: Path) -> None:
    follower = compressing.Follower(tmp_path, 1, one_at_a_time=False).start()
    _append(tmp_path / "3001.dat", b"a" * 1000)
    _append(tmp_path / "3002.dat", b"b" * 1000)
    follower.finished("3002")  # the other worker's table
    wait_for(lambda: not (tmp_path / "3002.dat").exists())
    assert (tmp_path / "3001.dat").exists()  # still being written: it stays open
    _append(tmp_path / "3001.dat", b"c" * 1000)
    done = follower.close()  # pg_dump ended: every file is complete
    assert _frame(tmp_path, "3001.dat") == b"a" * 1000 + b"c" * 1000
    assert _frame(tmp_path, "3002.dat") == b"b" * 1000
    assert done.raw_sizes == {"3001.dat.zst": 2000, "3002.dat.zst": 1000}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3001.dat.zst", "3002.dat.zst"]


def test_with_one_job_a_newer_file_closes_the_older_ones(tmp_path: Path) -> None:
    follower = compressing.Follower(tmp_path, 1, one_at_a_time=True).start()
    _append(tmp_path / "3001.dat", b"first table\n")
    wait_for(lambda: (tmp_path / "3001.dat.zst").exists())
    assert (tmp_path / "3001.dat").exists()
    _append(tmp_path / "3002.dat", b"second table\n")
    wait_for(lambda: not (tmp_path / "3001.dat").exists())
    assert (tmp_path / "3002.dat").exists()  # the newest may still be written
    _append(tmp_path / "3002.dat", b"more\n")
    follower.close()
    assert _frame(tmp_path, "3002.dat") == b"second table\nmore\n"


def test_abort_stops_at_once_and_a_folder_never_made_is_nothing_to_do(tmp_path: Path) -> None:
    follower = compressing.Follower(tmp_path, 1, one_at_a_time=False).start()
    _append(tmp_path / "3001.dat", b"x" * 10_000)
    stopped = threading.Thread(target=follower.abort)
    stopped.start()
    stopped.join(timeout=10)
    assert not stopped.is_alive()
    follower = compressing.Follower(tmp_path / "missing", 1, one_at_a_time=False).start()
    assert follower.close().raw_sizes == {}  # pg_dump never made its folder: nothing to do
