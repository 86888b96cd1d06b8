"""A restore into an empty target splits the largest tables' rows across the jobs, on a
real server with real pg_restore: the plan names the split, each stream gets rows, and the
restored tables hold the very rows (counts and content checksums) with their sequences,
indexes, foreign keys and generated columns; a damaged split file fails naming the table
and leaves no pg_restore running, and so does Ctrl-C; `--clean` and one job stay one
pg_restore; a drill and a deep verify of a split restore pass with the schema identical."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from opsbook.backups import archive, files, split
from opsbook.postgres.cluster import find_bindir
from tests.backups.conftest import Backups
from tests.conftest import wait_for

HOSTILE = """odd "name"; rm -rf $(touch pwned) [/b]"""

SOURCE = r"""
create sequence ticket_numbers start 1000;
create table orgs (id serial primary key, name text not null unique);
create table attempts (
    id bigserial primary key,
    org_id int not null references orgs (id),
    ticket int not null default nextval('ticket_numbers'),
    answers jsonb,
    tags text[],
    transcript text,
    doubled bigint generated always as (id * 2) stored
);
create index attempts_org on attempts (org_id);
create table "odd ""name""; rm -rf $(touch pwned) [/b]" (id int primary key, body text);
insert into orgs (name) values ('acme'), ('globex');
insert into attempts (org_id, answers, tags, transcript)
select 1 + g % 2,
    case when g % 7 = 0 then null
         else jsonb_build_object('g', g, 'q', E'it''s "x"\t\\', 'deep',
                                 jsonb_build_array(g, md5(g::text), jsonb_build_object('n', null)))
    end,
    case when g % 11 = 0 then null else array[md5(g::text), E'a\tb', 'c"d', E'\\.', null] end,
    case g % 5
        when 0 then null
        when 1 then E'line one\nline two\n\\.\nafter a \\. line\r\n'
        when 2 then E'tab\there; rm -rf / $(touch pwned) [/b][bold]x\x1b[31m red'
        when 3 then E'\\.'
        else md5(g::text) || E'\\\\'
    end
from generate_series(1, 300000) g;
-- One value far past the TOAST threshold, compressed and stored out of line.
insert into attempts (org_id, transcript)
    select 1, string_agg(md5(g::text), E'\n') from generate_series(1, 20000) g;
insert into "odd ""name""; rm -rf $(touch pwned) [/b]"
    select g, md5(g::text) from generate_series(1, 20000) g;
"""

QUERIES = [
    "select last_value, is_called from ticket_numbers",
    "select last_value from attempts_id_seq",
    "select count(*) from attempts where doubled <> id * 2",
    "select max(length(transcript)) from attempts",
    "select indexdef from pg_indexes where indexname = 'attempts_org'",
    "select pg_get_constraintdef(oid) from pg_constraint where conname = 'attempts_org_id_fkey'",
]


@pytest.fixture
def big_db(pg_url: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(SOURCE.encode())
    return pg_url


@pytest.fixture
def low_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split at 256 kB: the big table and the oddly named one, not `orgs`."""
    monkeypatch.setattr(split, "SPLIT_AT", 256 * 1024)


def _one(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query.encode()).fetchone()
        return row if row is None else tuple(row)


def _restore(backups: Backups, backup: int, target: str, *args: str) -> dict[str, Any]:
    result = backups.run("restore", str(backup), "--target", target, "--yes", "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _pg_restores() -> list[int]:
    """pg_restore processes this test's process started that are still there."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :]
        if name == "pg_restore" and int(rest.split()[1]) == os.getpid():
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.usefixtures("low_threshold")
def test_the_largest_tables_load_in_streams_with_the_same_rows(
    backups: Backups, big_db: str, empty_target: str
) -> None:
    created = backups.json("create", "--checksums")
    backup = created["id"]
    plan = backups.run("restore", str(backup), "--target", empty_target, "--jobs", "3")
    assert plan.exit_code == 1 and "dry run" in plan.stderr
    assert "split  public.attempts: its rows in 3 streams at once" in plan.stdout
    assert f"split  public.{HOSTILE}: its rows in 3 streams at once" in plan.stdout
    assert "public.orgs" not in plan.stdout

    done = _restore(backups, backup, empty_target, "--jobs", "3")
    assert done["ok"] and done["differences"] == []
    assert sorted((t["name"], t["streams"]) for t in done["split"]) == [
        ("attempts", 3),
        (HOSTILE, 3),
    ]
    # The split happened: each stream of the big table had rows; the small one's rows
    # (less than one chunk) all went to one stream, the others ended empty and well.
    assert [n > 0 for n in done["fed"]["public.attempts"]] == [True, True, True]
    assert sorted(n > 0 for n in done["fed"][f"public.{HOSTILE}"]) == [False, False, True]
    expected = {
        (t["schema"], t["name"]): (t["rows"], t["checksum"]) for t in created["manifest"]["tables"]
    }
    found = {(c["schema"], c["name"]): (c["rows"], c["checksum"]) for c in done["counted"]}
    assert found == expected and expected[("public", "attempts")][0] == 300_001
    assert all(checksum for _, checksum in expected.values())
    for query in QUERIES:
        assert _one(empty_target, query) == _one(big_db, query), query
    with psycopg.connect(empty_target) as conn, pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("insert into attempts (org_id) values (99)")  # the foreign key holds
    assert not Path("pwned").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("low_threshold")
@pytest.mark.parametrize("damage", ["flipped-byte", "cut-short"])
def test_a_damaged_split_file_fails_naming_the_table_and_stops_every_pg_restore(
    backups: Backups, big_db: str, empty_target: str, damage: str
) -> None:
    created = backups.json("create")
    folder = Path(created["path"]) / files.DUMP
    plan = backups.json("restore", str(created["id"]), "--target", empty_target, code=1)
    attempts = next(t for t in plan["split"] if t["name"] == "attempts")
    data = next(p for p in folder.iterdir() if p.stat().st_size == attempts["bytes"])
    packed = data.read_bytes()
    data.write_bytes(
        b"\x00" + packed[1:] if damage == "flipped-byte" else packed[: len(packed) // 2]
    )

    result = backups.run("restore", str(created["id"]), "--target", empty_target, "--yes")
    assert result.exit_code == 1, result.output
    assert f"cannot decompress the rows of public.attempts ({data.name})" in result.stderr
    assert _pg_restores() == []
    wait_for(lambda: not _sessions(empty_target))  # the killed ones' backends end too


def _sessions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "select application_name from pg_stat_activity"
            " where datname = current_database() and pid <> pg_backend_pid()"
        )
        return [row[0] for row in found]


@pytest.mark.slow
@pytest.mark.usefixtures("low_threshold")
def test_clean_and_one_job_stay_one_pg_restore(
    backups: Backups, big_db: str, empty_target: str
) -> None:
    created = backups.json("create", "--checksums")
    one = _restore(backups, created["id"], empty_target, "--jobs", "1")
    assert one["ok"] and one["split"] == [] and one["fed"] == {}
    with psycopg.connect(empty_target, autocommit=True) as conn:
        conn.execute("delete from attempts where id > 10; create table keep_me (id int)")
    again = _restore(backups, created["id"], empty_target, "--clean")
    assert again["ok"] and again["clean"] and again["split"] == [] and again["fed"] == {}
    assert _one(empty_target, "select count(*) from attempts") == (300_001,)
    assert _one(empty_target, "select count(*) from keep_me") == (0,)


@pytest.mark.slow
def test_a_drill_and_a_deep_verify_of_a_split_restore_pass(
    backups: Backups, rich_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every table of the rich database split (even those of a few rows): the drill
    compares the whole schema (indexes, constraints, triggers, sequences, views)."""
    monkeypatch.setattr(split, "SPLIT_AT", 1)
    result = backups.opsbook("drill", "--json")
    assert result.exit_code == 0, result.output
    drill = json.loads(result.stdout)
    assert drill["verdict"] == "passed" and drill["problems"] == [], drill
    restore = next(s for s in drill["stages"] if s["name"] == "restore")
    assert "public.calls's rows in 2 streams" in restore["saw"]
    assert "public.orgs's rows in 2 streams" in restore["saw"]
    verified = backups.json("verify", str(drill["backup"]), "--deep")
    assert verified["ok"] and verified["tables"] == 2


@pytest.mark.slow
@pytest.mark.usefixtures("low_threshold")
def test_ctrl_c_while_the_streams_run_stops_every_pg_restore(
    backups: Backups, big_db: str, empty_target: str, tmp_path: Path
) -> None:
    created = backups.json("create")
    folder = Path(created["path"])
    manifest = archive.load_manifest(folder)
    tool = archive.pg_restore(str(find_bindir()), manifest["pg_dump_version"])
    seen: list[int] = []

    def interrupted(done: int) -> None:  # the data section has begun: Ctrl-C
        seen.extend(_pg_restores())
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        split.restore_backup(
            tool,
            folder,
            empty_target,
            work_root=tmp_path / "work",
            jobs=2,
            manifest=manifest,
            tick=interrupted,
        )
    assert len(seen) >= 2  # at least the two streams of `attempts` were running
    assert _pg_restores() == []
    assert list((tmp_path / "work").iterdir()) == []  # the pipes' folders are gone


def test_an_archive_entry_is_named_by_the_table_that_leaves_its_owner_after_it() -> None:
    """`pg_restore --list` shows "public calls postgres" for `calls` owned by postgres,
    which a table named "calls postgres" fits too; a line break shows as a space."""
    tables = [
        {"schema": "public", "name": "calls"},
        {"schema": "public", "name": "calls postgres"},
        {"schema": "public", "name": "new\nline"},
    ]
    toc = [
        "3372; 0 16400 TABLE DATA public calls postgres",
        "3373; 0 16410 TABLE DATA public calls postgres postgres",
        "3374; 0 16420 TABLE DATA public new line postgres",
        "3375; 0 16430 TABLE DATA public gone postgres",
    ]
    assert archive.table_data(toc, tables) == [
        (3372, "public", "calls"),
        (3373, "public", "calls postgres"),
        (3374, "public", "new\nline"),
        (3375, "", "public gone"),
    ]
