"""A person's command and a bulk writer sharing one SQLite store (store/turns.py): the
person goes before the writer's next chunk, says when it waits, and gives up after a bound;
reads wait for nobody."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import exc, text

from opsbook.store import Store, open_store
from opsbook.store.turns import Patience
from tests.conftest import wait_for


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "opsbook.db"
    store = open_store(f"sqlite:///{path}")
    with store.session() as session:
        session.execute(text("CREATE TABLE work (id INTEGER PRIMARY KEY, who TEXT)"))
    store.close()
    yield path


class Notices:
    """What a person's store said while it waited."""

    def __init__(self) -> None:
        self.said = 0

    def __call__(self) -> None:
        self.said += 1


def _person(db: Path, notices: Notices, *, limit: float = 120.0) -> Store:
    return open_store(f"sqlite:///{db}", waiting=Patience(notices, quiet=0.2, limit=limit))


def _holding_the_lock(db: Path) -> sqlite3.Connection:
    """Another process's writer, in the middle of a transaction."""
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO work (who) VALUES ('holder')")
    return holder


def _rows(db: Path) -> list[str]:
    with sqlite3.connect(db) as reader:
        return [who for (who,) in reader.execute("SELECT who FROM work ORDER BY id")]


def test_a_person_waits_for_the_lock_says_so_once_and_gets_through(db: Path) -> None:
    holder = _holding_the_lock(db)
    notices = Notices()
    person = _person(db, notices)
    failures: list[BaseException] = []

    def write() -> None:
        try:
            with person.session() as session:
                session.execute(text("INSERT INTO work (who) VALUES ('person')"))
        except BaseException as error:  # reported by the test, not lost in the thread
            failures.append(error)

    writer = threading.Thread(target=write)
    writer.start()
    wait_for(lambda: notices.said == 1)
    holder.execute("COMMIT")
    writer.join(timeout=30)
    assert not writer.is_alive() and failures == []
    assert notices.said == 1
    assert _rows(db) == ["holder", "person"]
    person.close()
    holder.close()


def test_a_person_gives_up_after_the_bound_and_changes_nothing(db: Path) -> None:
    holder = _holding_the_lock(db)
    notices = Notices()
    person = _person(db, notices, limit=0.5)
    with (
        pytest.raises(exc.OperationalError, match="database is locked"),
        person.session() as session,
    ):
        session.execute(text("INSERT INTO work (who) VALUES ('person')"))
    assert notices.said == 1
    holder.execute("ROLLBACK")
    assert _rows(db) == []
    person.close()
    holder.close()


def test_a_read_waits_for_no_writer(db: Path) -> None:
    holder = _holding_the_lock(db)
    notices = Notices()
    person = _person(db, notices, limit=0.5)
    with person.reading() as session:  # the holder's row is not committed: not seen
        assert session.execute(text("SELECT count(*) FROM work")).scalar() == 0
    assert notices.said == 0
    holder.execute("ROLLBACK")
    person.close()
    holder.close()


def _held_by_a_person(db: Path) -> bool:
    """True while a person's command holds the store's priority file (see turns.py)."""
    with open(f"{db}.priority.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


def test_a_bulk_writer_lets_a_person_in_before_its_next_chunk(db: Path) -> None:
    """The bulk writer works chunk after chunk without a pause, as the receiver does with
    a big group; once the person holds the priority file, at most the chunk under way
    lands before the person's row.

    The writer's count is read by an observer once it sees the file held, not before the
    person asks: on a busy machine the person's thread may sleep between the two, while
    the writer commits any number of chunks that the person had not yet asked to pass."""
    bulk = open_store(f"sqlite:///{db}")
    person = _person(db, Notices())
    chunks = 0
    stop = threading.Event()
    seen: list[int] = []

    def burst() -> None:
        nonlocal chunks
        while not stop.is_set():
            bulk.give_way()
            with bulk.session() as session:
                session.execute(text("INSERT INTO work (who) VALUES ('bulk')"), [{}] * 200)
            chunks += 1

    def observe() -> None:
        while not stop.is_set() and not _held_by_a_person(db):
            time.sleep(0.001)  # a poll, not a wait for correctness: leaves the CPU to others
        seen.append(chunks)  # the writer can be at most one chunk past this now

    writer = threading.Thread(target=burst)
    observer = threading.Thread(target=observe)
    writer.start()
    try:
        wait_for(lambda: chunks >= 3)
        observer.start()
        with person.session() as session:
            session.execute(text("INSERT INTO work (who) VALUES ('person')"))
            inside = session.execute(text("SELECT count(*) FROM work WHERE who = 'bulk'")).scalar()
            wait_for(lambda: bool(seen))  # the person still holds the file: the observer sees it
    finally:
        stop.set()
        observer.join(timeout=30)
        writer.join(timeout=30)
    # The chunk under way when the file was taken (counted in `seen` or not) and no other.
    assert inside is not None and inside <= (seen[0] + 1) * 200
    bulk.close()
    person.close()


def test_incident_open_waits_for_the_store_and_is_recorded(tmp_path: Path, db: Path) -> None:
    """The CLI: a held lock makes `incident open --sev P0` say it waits, then succeed."""
    config = tmp_path / "opsbook.yaml"
    config.write_text(f"store: {{url: 'sqlite:///{db}'}}\n")
    holder = _holding_the_lock(db)
    said = tmp_path / "stderr.txt"
    with said.open("w") as stderr:
        opened = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "opsbook",
                "--config",
                str(config),
                "incident",
                "open",
                "--title",
                "checkout down",
                "--sev",
                "P0",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        try:
            wait_for(lambda: "waiting for the store" in said.read_text(), timeout=60)
        finally:
            holder.execute("COMMIT")
        output, _ = opened.communicate(timeout=60)
    assert opened.returncode == 0, said.read_text()
    assert json.loads(output)["severity"] == "P0"
    assert "waiting for the store (another opsbook process is writing)..." in said.read_text()
    with sqlite3.connect(db) as reader:
        assert reader.execute("SELECT severity, title FROM incidents").fetchall() == [
            ("P0", "checkout down")
        ]
    holder.close()


def test_ctrl_c_while_waiting_for_the_store_ends_the_command_at_once(
    tmp_path: Path, db: Path
) -> None:
    """SQLite waits for its write lock in C, where a Ctrl-C is not heard: the command
    waits in short attempts, so it ends (130, as typer does) while the lock is still held,
    not after the 120 s bound, and writes nothing."""
    config = tmp_path / "opsbook.yaml"
    config.write_text(f"store: {{url: 'sqlite:///{db}'}}\n")
    holder = _holding_the_lock(db)
    said = tmp_path / "stderr.txt"
    try:
        with said.open("w") as stderr:
            opened = subprocess.Popen(
                [sys.executable, "-m", "opsbook", "--config", str(config), "incident", "open",
                 "--title", "checkout down", "--sev", "P0"],
                stdout=subprocess.DEVNULL, stderr=stderr, env={**os.environ, "COLUMNS": "200"},
            )  # fmt: skip
            try:
                wait_for(lambda: "waiting for the store" in said.read_text(), timeout=60)
                opened.send_signal(signal.SIGINT)
                assert opened.wait(timeout=60) == 130  # the lock is still held here
            finally:
                opened.kill()
                opened.wait()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with sqlite3.connect(db) as reader:
        assert reader.execute("SELECT count(*) FROM incidents").fetchone() == (0,)
