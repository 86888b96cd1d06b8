"""The pipes a restore reads: each `.zst` file decompressed as it is read, other files
copied; a file that does not decompress whole is named afterwards; pipes nobody opens,
or a reader that stops early, never hang the clean-up; the backup folder is only read.
(The restores through real pg_restore are in test_restore, test_verify and test_drill.)"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
import zstandard

from opsbook.backups import archive, files, streaming
from opsbook.backups.errors import BackupFailed
from tests.backups.conftest import read_pipes
from tests.conftest import wait_for


def _backup(tmp_path: Path, data: dict[str, bytes]) -> Path:
    folder = tmp_path / "backup"
    dump = folder / files.DUMP
    dump.mkdir(parents=True)
    (dump / "toc.dat").write_bytes(b"table of contents")
    for name, body in data.items():
        (dump / f"{name}.zst").write_bytes(zstandard.ZstdCompressor(level=1).compress(body))
    return folder


def test_pipes_give_each_file_decompressed_and_copy_the_rest(tmp_path: Path) -> None:
    big = bytes(range(256)) * 20_000  # 5 MB: more than a pipe and a chunk hold
    folder = _backup(tmp_path, {"3001.dat": big, "3002.dat": b"1\tx\n\\.\n", "3003.dat": b""})
    before = sorted(p.name for p in (folder / files.DUMP).iterdir())
    with streaming.streamed_copy(folder, tmp_path / "work") as dump:
        assert stat.S_ISFIFO((dump.folder / "3001.dat").stat().st_mode)
        assert (dump.folder / "toc.dat").read_bytes() == b"table of contents"
        found = read_pipes([dump.folder / n for n in ("3001.dat", "3002.dat", "3003.dat")])
        dump.finish()
    assert found == {"3001.dat": big, "3002.dat": b"1\tx\n\\.\n", "3003.dat": b""}
    assert list((tmp_path / "work").iterdir()) == []  # the pipes' folder is gone
    assert sorted(p.name for p in (folder / files.DUMP).iterdir()) == before


def _read_some(pipe: Path, into: list[bytes]) -> threading.Thread:
    """A reader that reads until its pipe ends (it may never)."""

    def read() -> None:
        with pipe.open("rb") as reader:
            while chunk := reader.read(65536):
                into.append(chunk)
        into.append(b"<end>")

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("damage", ["garbage", "cut-short"])
def test_a_file_that_does_not_decompress_keeps_its_pipe_open_and_is_named(
    tmp_path: Path, damage: str
) -> None:
    rows = b"row\n" * 400_000
    folder = _backup(tmp_path, {"3001.dat": rows})
    damaged = folder / files.DUMP / "3001.dat.zst"
    body = damaged.read_bytes()
    cut = body[: len(body) // 2]
    damaged.write_bytes(cut + b"\x00garbage" * 100 if damage == "garbage" else cut)
    read: list[bytes] = []
    with streaming.streamed_copy(
        folder,
        tmp_path / "work",
        raw_bytes={"3001.dat.zst": len(rows)},
        table_of={"3001.dat.zst": "public.t"}.get,
    ) as dump:
        reader = _read_some(dump.folder / "3001.dat", read)
        wait_for(lambda: bool(dump.failures))
        reader.join(timeout=0.3)
        assert reader.is_alive() and b"<end>" not in read  # no end of data: no commit
        said = "cut short or damaged" if damage == "cut-short" else ""
        with pytest.raises(
            BackupFailed,
            match=rf"cannot decompress the rows of public\.t \(3001\.dat\.zst\): .*{said}",
        ):
            dump.check()
    reader.join(timeout=10)  # the pipe is closed once the feeder stops
    assert not reader.is_alive()
    assert list((tmp_path / "work").iterdir()) == []


def test_a_file_whose_table_is_unknown_is_named_by_itself(tmp_path: Path) -> None:
    folder = _backup(tmp_path, {"3001.dat": b"row\n" * 10})
    with streaming.streamed_copy(folder, tmp_path / "work", raw_bytes={"3001.dat.zst": 99}) as dump:
        _read_some(dump.folder / "3001.dat", [])
        wait_for(lambda: bool(dump.failures))
        with pytest.raises(BackupFailed, match=r"cannot decompress 3001\.dat\.zst: 40 bytes"):
            dump.check()


def test_pipes_nobody_opens_and_a_reader_that_stops_early_do_not_hang(tmp_path: Path) -> None:
    folder = _backup(tmp_path, {"1.dat": b"x" * 5_000_000, "2.dat": b"never read"})
    with streaming.streamed_copy(folder, tmp_path / "work") as dump:
        with (dump.folder / "1.dat").open("rb") as reader:
            assert reader.read(10) == b"x" * 10  # then closes: the writer gets EPIPE
        dump.finish()  # a reader that stops has its own error to tell; none here
    assert list((tmp_path / "work").iterdir()) == []


def test_an_error_inside_leaves_nothing_behind(tmp_path: Path) -> None:
    folder = _backup(tmp_path, {"1.dat": b"x" * 1_000})
    with pytest.raises(RuntimeError), streaming.streamed_copy(folder, tmp_path / "work"):
        raise RuntimeError("pg_restore failed")
    assert list((tmp_path / "work").iterdir()) == []


def test_a_pipe_in_a_data_files_place_fails_instead_of_blocking(tmp_path: Path) -> None:
    folder = _backup(tmp_path, {"3001.dat": b"row\n"})
    planted = folder / files.DUMP / "3001.dat.zst"
    planted.unlink()
    os.mkfifo(planted)  # nobody ever writes to it: reading it would wait for ever
    with streaming.streamed_copy(folder, tmp_path / "work") as dump:
        reader = _read_some(dump.folder / "3001.dat", [])
        wait_for(lambda: bool(dump.failures))
        with pytest.raises(BackupFailed, match=r"3001\.dat\.zst: not a regular file"):
            dump.check()
    reader.join(timeout=10)
    assert not reader.is_alive()
    manifest = {"files": [{"path": "dump/3001.dat.zst", "sha256": "0" * 64, "bytes": 1}]}
    [found] = archive.check_files(folder, manifest)  # verify names it, without waiting
    assert (found.name, found.found) == ("dump/3001.dat.zst", "not a regular file")
