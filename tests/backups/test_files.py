"""Files backups (the app's recordings): the first copies every file into the
content-addressed store, the next copies only what changed; restore-files writes them back
byte for byte with their modes, refuses names that would leave DEST, and verify names a
corrupt or missing object; prune keeps what kept backups reference; a run killed mid-copy
leaves no complete backup and no object whose name lies; hostile names come back intact
and are shown escaped."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from opsbook.backups import files, files_backup
from opsbook.backups.create import Progress
from opsbook.backups.models import Backup
from opsbook.clock import FrozenClock
from opsbook.store import open_store
from tests.backups.conftest import Backups
from tests.conftest import wait_for

HOSTILE = [
    b"with space.mp3",
    b"; rm -rf ~",
    b"$(touch pwned)",
    b'it\'s "quoted"',
    b"new\nline.mp3",
    b"\x1b[31mred\x1b[0m.mp3",
    b"[/x] [bold]markup",  # a folder "[" holding "x] [bold]markup"
    b"latin1-\xe9\xff.mp3",
]


@pytest.fixture
def backups(tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> Backups:
    monkeypatch.setenv("OPSBOOK_ACTOR", "alice")
    config = tmp_path / "opsbook.yaml"
    config.write_text(
        f"store:\n  url: sqlite:///{tmp_path / 'opsbook.db'}\n"
        f"backups:\n  dir: {tmp_path / 'backups'}\n"
    )
    return Backups(config, tmp_path / "backups", clock)


def _write(path: Path, content: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(mode)


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    """The seed's recordings/<org-id>/<file>.mp3, plus hostile names."""
    src = tmp_path / "recordings"
    for org in ("org-1", "org-2"):
        for n in range(3):
            _write(src / org / f"call-{n}.mp3", f"{org} call {n} ".encode() * 500)
    _write(src / "org-1" / "private.mp3", b"owner only", 0o600)
    _write(src / "org-2" / "empty.mp3", b"")
    hostile = os.fsencode(src / "hostile")
    os.makedirs(hostile)
    for name in HOSTILE:
        os.makedirs(os.path.dirname(os.path.join(hostile, name)), exist_ok=True)
        with open(os.path.join(hostile, name), "wb") as out:
            out.write(b"hostile " + name)
    return src


def _tree(folder: Path) -> dict[bytes, tuple[str, int, int]]:
    """Every regular file under `folder` by its bytes name: sha256, mode, mtime."""
    base = os.fsencode(folder)
    found = {}
    for top, _dirs, names in os.walk(base):
        for name in names:
            path = os.path.join(top, name)
            info = os.lstat(path)
            with open(path, "rb") as src:
                digest = hashlib.sha256(src.read()).hexdigest()
            found[os.path.relpath(path, base)] = (digest, info.st_mode & 0o7777, info.st_mtime_ns)
    return found


def _objects(backups: Backups) -> list[Path]:
    return sorted(p for p in (backups.folder / "files" / "objects").glob("*/*"))


def test_first_copies_all_second_nothing_and_a_changed_file_again(
    backups: Backups, recordings: Path
) -> None:
    total = sum(p.stat().st_size for p in recordings.rglob("*") if p.is_file())
    first = backups.json("files", str(recordings), "--label", "nightly")
    assert (first["files"], first["new"], first["changed"], first["unchanged"]) == (16, 16, 0, 0)
    assert first["bytes"] == first["bytes_read"] == total
    # Three pairs of the hostile files differ; every distinct content is one object.
    assert len(_objects(backups)) == len({v[0] for v in _tree(recordings).values()})

    second = backups.json("files", str(recordings))
    assert (second["new"], second["changed"], second["unchanged"]) == (0, 0, 16)
    assert second["bytes_read"] == second["bytes_copied"] == 0
    assert second["previous"] == first["backup"]

    changed = recordings / "org-1" / "call-0.mp3"
    changed.write_bytes(b"re-recorded")
    _write(recordings / "org-3" / "call-0.mp3", b"a new org")
    third = backups.json("files", str(recordings))
    assert (third["new"], third["changed"], third["unchanged"]) == (1, 1, 15)
    assert third["bytes_copied"] == len(b"re-recorded") + len(b"a new org")


def test_an_unchanged_size_and_mtime_is_not_read_again(backups: Backups, recordings: Path) -> None:
    backups.json("files", str(recordings))
    path = recordings / "org-2" / "call-1.mp3"
    before = path.stat()
    path.write_bytes(b"X" * before.st_size)  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime
    again = backups.json("files", str(recordings))
    assert again["unchanged"] == 16 and again["bytes_read"] == 0
    # Not read: the backup still holds what the first one read.
    restored = backups.folder.parent / "restored"
    backups.json("restore-files", str(again["backup"]), str(restored), "--yes")
    assert (restored / "org-2" / "call-1.mp3").read_bytes().startswith(b"org-2 call 1")


def test_restore_is_byte_identical_with_modes_and_mtimes(
    backups: Backups, recordings: Path, tmp_path: Path
) -> None:
    created = backups.json("files", str(recordings))
    dest = tmp_path / "restored"
    dry = backups.run("restore-files", str(created["backup"]), str(dest))
    assert dry.exit_code == 1 and "dry run: pass --yes" in dry.stderr
    assert not dest.exists()
    done = backups.json("restore-files", str(created["backup"]), str(dest), "--yes")
    assert (done["ok"], done["restored_files"]) == (True, 16)
    assert _tree(dest) == _tree(recordings)
    assert (dest / "org-1" / "private.mp3").stat().st_mode & 0o777 == 0o600


def test_a_non_empty_destination_is_shown_and_other_files_stay(
    backups: Backups, recordings: Path, tmp_path: Path
) -> None:
    created = backups.json("files", str(recordings))
    dest = tmp_path / "restored"
    _write(dest / "keep-me.txt", b"mine")
    _write(dest / "org-1" / "call-0.mp3", b"stale copy")
    plan = backups.run("restore-files", str(created["backup"]), str(dest))
    assert plan.exit_code == 1
    assert "holds 'keep-me.txt', 'org-1'" in plan.stdout and "1 of the backup" in plan.stdout
    assert (dest / "org-1" / "call-0.mp3").read_bytes() == b"stale copy"
    backups.json("restore-files", str(created["backup"]), str(dest), "--yes")
    assert (dest / "keep-me.txt").read_bytes() == b"mine"
    assert (dest / "org-1" / "call-0.mp3").read_bytes() == (
        recordings / "org-1/call-0.mp3"
    ).read_bytes()


def _tamper(backups: Backups, backup_id: int, change: Any) -> None:
    """Edit a backup's manifest and record its new sha256 in the catalog, as someone who
    could write both would."""
    manifest_path = Path(backups.json("list")[0]["path"]) / files.MANIFEST
    manifest = json.loads(manifest_path.read_bytes())
    change(manifest)
    digest = files.write_manifest(manifest_path.parent, manifest)
    store = open_store(f"sqlite:///{backups.folder.parent / 'opsbook.db'}")
    with store.session() as session:
        row = session.get(Backup, backup_id)
        assert row is not None
        row.manifest_sha256 = digest


@pytest.mark.parametrize(
    "escaping", ["../../etc/passwd", "/etc/passwd", "org-1/../../outside.mp3", "a\x00b"]
)
def test_a_name_escaping_the_destination_is_refused_and_nothing_written(
    backups: Backups, recordings: Path, tmp_path: Path, escaping: str
) -> None:
    created = backups.json("files", str(recordings))

    def add(manifest: dict[str, Any]) -> None:
        manifest["files"].append({**manifest["files"][0], "path": escaping})

    _tamper(backups, created["backup"], add)
    dest = tmp_path / "deep" / "restored"
    result = backups.run("restore-files", str(created["backup"]), str(dest), "--yes")
    assert result.exit_code == 2, result.output
    assert "outside the backup" in result.stderr and "nothing was changed" in result.stderr
    assert not (tmp_path / "deep").exists()
    assert not (tmp_path / "outside.mp3").exists()


def test_a_link_inside_the_destination_is_not_written_through(
    backups: Backups, recordings: Path, tmp_path: Path
) -> None:
    created = backups.json("files", str(recordings))
    dest, elsewhere = tmp_path / "restored", tmp_path / "elsewhere"
    dest.mkdir()
    elsewhere.mkdir()
    (dest / "org-1").symlink_to(elsewhere)
    result = backups.run("restore-files", str(created["backup"]), str(dest), "--yes")
    assert result.exit_code == 2 and "not a folder in the destination" in result.stderr
    assert list(elsewhere.iterdir()) == [] and sorted(os.listdir(dest)) == ["org-1"]


def test_verify_names_a_flipped_byte_and_a_missing_object(
    backups: Backups, recordings: Path
) -> None:
    created = backups.json("files", str(recordings))
    assert backups.json("verify", str(created["backup"]))["ok"] is True
    assert backups.json("list")[0]["verified_at"] is not None
    sha = hashlib.sha256((recordings / "org-2" / "call-2.mp3").read_bytes()).hexdigest()
    flipped = backups.folder / "files" / "objects" / sha[:2] / sha
    data = bytearray(flipped.read_bytes())
    data[10] ^= 0x01
    flipped.write_bytes(bytes(data))
    gone = hashlib.sha256(b"owner only").hexdigest()
    (backups.folder / "files" / "objects" / gone[:2] / gone).unlink()

    result = backups.run("verify", str(created["backup"]))
    assert result.exit_code == 1
    out = result.stdout.replace("\n", "")
    assert f"{sha} (file org-2/call-2.mp3)" in out and "2 difference(s)" in out
    assert f"{gone} (file org-1/private.mp3)" in out and "no object" in out
    assert backups.json("list")[0]["verified_at"] is None
    # A restore does not put the corrupt file in place and names it.
    dest = backups.folder.parent / "restored"
    restored = backups.json("restore-files", str(created["backup"]), str(dest), "--yes", code=1)
    assert {d["name"] for d in restored["differences"]} >= {"org-2/call-2.mp3"}
    assert not (dest / "org-2" / "call-2.mp3").exists()


def test_prune_keeps_the_objects_kept_backups_reference(backups: Backups, recordings: Path) -> None:
    old = backups.json("files", str(recordings))
    (recordings / "org-1" / "call-1.mp3").write_bytes(b"second take")
    backups.clock.advance(dt.timedelta(days=10))
    new = backups.json("files", str(recordings))
    before = set(_objects(backups))
    dry = backups.json("prune", "--keep-days", "7", "--keep-min", "1")
    assert [d["id"] for d in dry["delete"]] == [old["backup"]]
    assert dry["objects"]["unreferenced"] == 1 and set(_objects(backups)) == before

    pruned = backups.json("prune", "--keep-days", "7", "--keep-min", "1", "--yes")
    assert pruned["deleted"] == [old["backup"]] and pruned["objects"]["deleted"] == 1
    first_take = hashlib.sha256(b"org-1 call 1 " * 500).hexdigest()
    assert {p.name for p in before - set(_objects(backups))} == {first_take}
    assert backups.json("verify", str(new["backup"]))["ok"] is True


def test_list_shows_the_kind_and_restore_refuses_a_files_backup(
    backups: Backups, recordings: Path
) -> None:
    created = backups.json("files", str(recordings))
    [listed] = backups.json("list")
    assert (listed["kind"], listed["files"], listed["rows"]) == ("files", 16, None)
    assert " files " in backups.run("list").stdout
    result = backups.run("restore", str(created["backup"]), "--target", "postgresql://x@h/db")
    assert result.exit_code == 2 and "restore-files" in result.stderr


def test_links_are_skipped_with_a_warning_and_never_followed(
    backups: Backups, recordings: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    _write(secret / "passwd", b"root:x:0:0")
    (recordings / "org-1" / "etc").symlink_to(secret)
    (recordings / "org-1" / "passwd.mp3").symlink_to(secret / "passwd")
    os.mkfifo(recordings / "org-1" / "pipe")
    result = backups.run("files", str(recordings))
    assert result.exit_code == 0, result.output
    assert "skipped 'org-1/etc': a symbolic link" in result.stderr
    assert "skipped 'org-1/passwd.mp3': a symbolic link" in result.stderr
    assert "skipped 'org-1/pipe': not a regular file" in result.stderr
    objects = {p.name for p in _objects(backups)}
    assert hashlib.sha256(b"root:x:0:0").hexdigest() not in objects


def test_hostile_names_back_up_restore_identical_and_print_escaped(
    backups: Backups, recordings: Path, tmp_path: Path
) -> None:
    (recordings / "hostile" / "link\x1b[2J").symlink_to("/etc")
    made = backups.run("files", str(recordings), "--label", "[/x] nightly")
    assert made.exit_code == 0, made.output
    listed = backups.json("list")[0]
    dest = tmp_path / "restored"
    shown = backups.run("restore-files", str(listed["id"]), str(dest), "--yes")
    assert shown.exit_code == 0, shown.output
    restored = _tree(dest)
    for name in HOSTILE:
        assert restored[b"hostile/" + name] == _tree(recordings)[b"hostile/" + name]
    checked = backups.run("verify", str(listed["id"]))
    for result in (made, shown, checked, backups.run("list")):
        text = result.stdout + result.stderr
        assert "\x1b" not in text
    assert "skipped 'hostile/link\\\\x1b[2J'" in made.stderr
    manifest = json.loads((Path(listed["path"]) / files.MANIFEST).read_bytes())
    by_path = {e["path"]: e for e in manifest["files"]}
    assert by_path["hostile/latin1-\\xe9\\xff.mp3"]["path_b64"]
    assert "path_b64" not in by_path["hostile/new\nline.mp3"]


def test_a_source_that_is_not_a_folder_changes_nothing(backups: Backups, tmp_path: Path) -> None:
    for bad in (tmp_path / "missing", tmp_path / "opsbook.yaml"):
        result = backups.run("files", str(bad))
        assert result.exit_code == 2 and "is not a directory" in result.stderr
    assert backups.json("list", "--all") == []
    bad_label = backups.run("files", str(tmp_path), "--label", "a\x1b[31mb")
    assert bad_label.exit_code == 2 and "\\x1b" in bad_label.stderr
    backups.folder.mkdir(exist_ok=True)
    for overlapping in (tmp_path, backups.folder, backups.folder / ".."):
        own = backups.run("files", str(overlapping))
        message = " ".join(own.stderr.split())
        assert own.exit_code == 2 and "would copy its own output" in message, own.output
        assert f"{tmp_path.resolve()}" in message and f"{backups.folder.resolve()}" in message
    assert backups.json("list", "--all") == []


@pytest.mark.slow
def _size(path: Path) -> int:
    """A temporary object's size; 0 once it has been renamed away (or not yet written)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_sigkill_mid_copy_leaves_nothing_complete_and_the_next_run_completes(
    backups: Backups, recordings: Path
) -> None:
    big = recordings / "org-9" / "long-call.mp3"
    big.parent.mkdir()
    with big.open("wb") as out:  # sparse: a long copy, little disk read
        out.truncate(400 * 1024 * 1024)
    objects = backups.folder / "files" / "objects"
    argv = ["--config", str(backups.config), "backup", "files", str(recordings)]
    child = subprocess.Popen(
        [sys.executable, "-m", "opsbook", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: any(_size(p) > 0 for p in objects.glob(".tmp-*")), timeout=60)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)

    assert backups.json("list") == []
    [abandoned] = backups.json("list", "--all")
    assert abandoned["state"] == "abandoned"
    for path in _objects(backups):  # every name says its content
        assert files.sha256(path) == path.name
    done = backups.json("files", str(recordings))
    assert done["files"] == 17 and done["previous"] is None
    assert backups.json("verify", str(done["backup"]))["ok"] is True
    pruned = backups.json("prune", "--yes")
    assert pruned["deleted"] == [abandoned["id"]]
    assert not list(objects.glob(".tmp-*"))
    store = open_store(f"sqlite:///{backups.folder.parent / 'opsbook.db'}")
    with store.reading() as session:
        states = session.scalars(select(Backup.state)).all()
    assert states == ["complete"]


def test_a_file_deleted_while_the_backup_runs_is_skipped_with_a_warning(
    backups: Backups, recordings: Path, clock: FrozenClock
) -> None:
    doomed = recordings / "org-2" / "call-2.mp3"
    warned: list[str] = []

    def progress(_step: Progress) -> None:
        doomed.unlink(missing_ok=True)  # the app deletes a recording mid-backup

    done = files_backup.backup_files(
        store=open_store(f"sqlite:///{backups.folder.parent / 'opsbook.db'}"),
        source=recordings,
        root=backups.folder,
        label=None,
        actor="alice",
        clock=clock,
        warn=warned.append,
        progress=progress,
    )
    assert warned == ["skipped 'org-2/call-2.mp3': it went while the backup ran"]
    assert done.files == 15 and done.skipped == warned
    assert backups.json("verify", str(done.backup))["files"] == 15


def test_set_id_bits_are_not_restored_and_an_unwritable_dest_is_one_line(
    backups: Backups, tmp_path: Path
) -> None:
    # Owners are not kept, so a set-user-ID program restored by root would run as root.
    src = tmp_path / "tools"
    _write(src / "tool", b"#!/bin/sh\n", 0o6755)
    _write(src / "shared", b"sticky", 0o1777)
    created = backups.json("files", str(src))
    dest = tmp_path / "back"
    backups.json("restore-files", str(created["backup"]), str(dest), "--yes")
    assert (dest / "tool").stat().st_mode & 0o7777 == 0o755
    assert (dest / "shared").stat().st_mode & 0o7777 == 0o1777

    blocked = tmp_path / "a-file"
    blocked.write_bytes(b"not a folder")
    refused = backups.run("restore-files", str(created["backup"]), str(blocked / "x"), "--yes")
    assert refused.exit_code != 0
    assert "cannot be written" in refused.stderr and "Traceback" not in refused.output


def test_verify_names_a_pipe_in_an_objects_place_without_waiting_on_it(
    backups: Backups, recordings: Path
) -> None:
    backup = backups.json("files", str(recordings))["backup"]
    sha = hashlib.sha256((recordings / "org-2" / "call-2.mp3").read_bytes()).hexdigest()
    planted = backups.folder / "files" / "objects" / sha[:2] / sha
    planted.unlink()
    os.mkfifo(planted)  # nobody ever writes to it: hashing it would wait for ever
    result = backups.run("verify", str(backup))
    assert result.exit_code == 1, result.output
    said = " ".join(result.stdout.split())
    assert f"{sha} (file org-2/call-2.mp3)" in said and "not a regular file" in said, said
