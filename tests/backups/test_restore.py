"""`backup restore` on a real server: the plan comes first; an empty target gets back the
very rows (counts and checksums) and objects; a non-empty target is refused and untouched
unless --clean --yes; without --yes it is a dry run (exit 1); the production database
needs its name typed at a terminal; the seed's plain pg_dump file restores through psql;
hostile targets, files and ids are refused before anything runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from opsbook.backups.snapshot import Snapshot
from opsbook.cli import app
from opsbook.postgres.cluster import TempCluster, find_bindir
from tests.backups.conftest import Backups
from tests.backups.conftest import public_tables as _tables

PWNED = Path("/tmp/opsbook-restore-pwned")


def _recount(url: str) -> dict[tuple[str, str], tuple[int, str | None]]:
    snapshot = Snapshot(url, lock_wait_ms=1000)
    try:
        counted = snapshot.count(snapshot.tables(), checksums=True, max_rows=10**9)
    finally:
        snapshot.close()
    return {(c.schema, c.name): (c.rows, c.checksum) for c in counted}


def _one(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query.encode()).fetchone()
        return row[0] if row else None


@pytest.mark.slow
def test_an_empty_target_gets_back_the_same_rows_and_objects(
    backups: Backups, rich_db: str, empty_target: str
) -> None:
    created = backups.json("create", "--checksums")
    manifest = created["manifest"]
    plan = backups.run("restore", str(created["id"]), "--target", empty_target)
    assert plan.exit_code == 1 and "dry run: pass --yes" in plan.stderr  # nothing approved
    assert f"restore backup {created['id']} of " in plan.stdout and "is empty" in plan.stdout
    assert "2 tables, 43 rows, 2 jobs" in plan.stdout
    assert _tables(empty_target) == []

    done = backups.json("restore", str(created["id"]), "--target", empty_target, "--yes")
    assert done["restored"] and done["ok"] and done["differences"] == []
    expected = {(t["schema"], t["name"]): (t["rows"], t["checksum"]) for t in manifest["tables"]}
    assert {(c["schema"], c["name"]): (c["rows"], c["checksum"]) for c in done["counted"]} == (
        expected
    )
    assert _recount(empty_target) == expected == _recount(rich_db)
    for query in [
        "select last_value from ticket_numbers",
        "select sum(calls) from calls_per_org",
        "select count(*) from pg_trigger where tgname = 'calls_touch'",
        "select enum_range(null::mood)::text",
        "select meta #>> '{nested,a}' from orgs where name = 'globex'",
        "select length(transcript) from calls order by id desc limit 1",
    ]:
        assert _one(empty_target, query) == _one(rich_db, query), query
    audit = json.loads(_audit(backups))
    assert ("backup.restore", "ok") in [(a["action"], a["outcome"]) for a in audit]


def _audit(backups: Backups) -> str:
    return (
        CliRunner().invoke(app, ["--config", str(backups.config), "audit", "list", "--json"]).stdout
    )


def test_a_non_empty_target_is_refused_and_untouched(
    backups: Backups, rich_db: str, empty_target: str
) -> None:
    created = backups.json("create")
    with psycopg.connect(empty_target, autocommit=True) as conn:
        conn.execute("create table keep_me (id int); insert into keep_me values (1), (2), (3)")
    for args in [["--yes"], ["--clean"], []]:
        result = backups.run("restore", str(created["id"]), "--target", empty_target, *args)
        assert result.exit_code == 1, result.output
        assert "holds 1: public.keep_me" in result.stdout
        assert "nothing was changed" in result.stderr
    refused = backups.json("restore", str(created["id"]), "--target", empty_target, "--yes", code=1)
    assert refused["restored"] is False and refused["occupied"] == ["public.keep_me"]
    assert "--clean --yes" in refused["why"]
    assert _tables(empty_target) == ["keep_me"]
    assert _one(empty_target, "select count(*) from keep_me") == 3


@pytest.mark.slow
def test_clean_yes_restores_over_a_non_empty_target(
    backups: Backups, rich_db: str, empty_target: str
) -> None:
    created = backups.json("create")
    with psycopg.connect(empty_target, autocommit=True) as conn:
        conn.execute("create table keep_me (id int)")
        conn.execute("create table orgs (id int, junk text); insert into orgs values (7, 'old')")
    done = backups.json(
        "restore", str(created["id"]), "--target", empty_target, "--clean", "--yes", "--jobs", "1"
    )
    assert done["ok"] and done["clean"]
    assert _one(empty_target, "select count(*) from orgs") == 2
    assert _tables(empty_target) == ["calls", "keep_me", "orgs"]  # --clean drops the dump's only


def _production(backups: Backups, url: str) -> None:
    """database.url written another way than the target will be: host=... dbname=..."""
    text = backups.config.read_text()
    host = url.split("@")[1].split("/")[0]
    dbname = url.rsplit("/", 1)[1]
    other = f"'host=localhost port={host.split(':')[1]} dbname={dbname} user=postgres'"
    backups.config.write_text(text.replace(f"url: {url}", f"url: {other}"))


def test_the_production_database_needs_its_name_typed_at_a_terminal(
    backups: Backups, rich_db: str
) -> None:
    created = backups.json("create")
    _production(backups, rich_db)
    name = rich_db.rsplit("/", 1)[1]
    args = ["restore", str(created["id"]), "--target", rich_db, "--clean", "--yes"]

    nobody = backups.run(*args)
    assert nobody.exit_code == 2, nobody.output
    assert "PRODUCTION database" in nobody.stdout
    assert "needs its name typed at a terminal, and there is none" in nobody.stderr

    wrong = backups.run(*args, typed="prod\n")
    assert wrong.exit_code == 1, wrong.output
    assert f"Type its name ({name})" in wrong.stderr
    assert f"'prod' is not '{name}'" in wrong.stderr and "nothing was changed" in wrong.stderr

    dry = backups.run(*args[:-1], typed=f"{name}\n")  # no --yes: no question, a dry run
    assert dry.exit_code == 1 and "dry run" in dry.stderr and "Type its name" not in dry.stderr
    assert _one(rich_db, "select count(*) from calls") == 41
    assert backups.json("list")[0]["id"] == created["id"]


@pytest.mark.slow
def test_the_production_database_restores_once_its_name_is_typed(
    backups: Backups, rich_db: str
) -> None:
    created = backups.json("create", "--checksums")
    with psycopg.connect(rich_db, autocommit=True) as conn:  # the migration that broke it
        conn.execute("delete from calls where id > 10")
    _production(backups, rich_db)
    name = rich_db.rsplit("/", 1)[1]
    result = backups.run(
        "restore", str(created["id"]), "--target", rich_db, "--clean", "--yes", typed=f"{name}\n"
    )
    assert result.exit_code == 0, result.output
    assert "public.calls: 41 rows (backup: 41)" in result.stdout
    assert _one(rich_db, "select count(*) from calls") == 41


@pytest.mark.slow
def test_the_seeds_plain_sql_dump_restores_through_psql(
    backups: Backups, rich_db: str, empty_target: str, tmp_path: Path
) -> None:
    # The seed: pg_dump $DATABASE_URL > backup_$(date +%Y%m%d_%H%M%S).sql; a hostile name.
    dump = tmp_path / "backup 2026 $(touch opsbook-restore-pwned) [x] 'q'.sql"
    with dump.open("wb") as out:
        subprocess.run([str(find_bindir() / "pg_dump"), rich_db], stdout=out, check=True)
    result = backups.run("restore", "--from-sql", str(dump), "--target", empty_target, "--yes")
    assert result.exit_code == 0, result.output
    assert "the SQL file" in result.stdout and "public.calls: 41 rows" in result.stdout
    assert _recount(empty_target) == _recount(rich_db)
    assert not PWNED.exists() and not Path("opsbook-restore-pwned").exists()

    again = backups.run("restore", "--from-sql", str(dump), "--target", empty_target, "--yes")
    assert again.exit_code == 1 and "not empty" in again.stderr


def test_from_sql_refusals(backups: Backups, empty_target: str, tmp_path: Path) -> None:
    missing = backups.run(
        "restore", "--from-sql", str(tmp_path / "no $(id).sql"), "--target", empty_target
    )
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    real = tmp_path / "x.sql"
    real.write_text("create table t (id int);\n")
    clean = backups.run("restore", "--from-sql", str(real), "--target", empty_target, "--clean")
    assert clean.exit_code == 2 and "cannot clean the target" in clean.stderr
    both = backups.run("restore", "1", "--from-sql", str(real), "--target", empty_target)
    assert both.exit_code == 2 and "one of them" in both.stderr
    assert _tables(empty_target) == []


def test_a_failing_sql_file_stops_at_its_first_error_and_says_where(
    backups: Backups, empty_target: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken dump.sql"
    broken.write_text("create table first (id int);\ninsert into nowhere values (1);\n")
    result = backups.run("restore", "--from-sql", str(broken), "--target", empty_target, "--yes")
    assert result.exit_code == 1, result.output
    message = " ".join(result.stderr.split())
    assert "psql exited with 3" in message and 'relation "nowhere" does not exist' in message
    assert "what went in before it stays in the target" in message


def test_hostile_targets_are_refused_before_anything_runs(
    backups: Backups, rich_db: str, pg_cluster: TempCluster
) -> None:
    created = backups.json("create")
    base = f"postgresql://postgres@127.0.0.1:{pg_cluster.port}"
    hostile = {
        f"{base}/$(touch {PWNED})": "is not a PostgreSQL connection string",
        f"{base}/$(id)": "cannot connect to the target",
        f"{base}/db';rm%20-rf%20/tmp/x;'": "cannot connect to the target",
        f"{base}/[/x][bold%20red]boom": "cannot connect to the target",
        f"{base}/esc\x1b[31mred": "holds a control character",
        f"{base}/nul\x00db": "holds a control character",
        "postgresql://postgres@127.0.0.1:99999999999999/x": "port '99999999999999'",
        "postgresql://postgres@$(id):5432/x": "is not a host name",
        "host='unclosed": "is not a PostgreSQL connection string",
    }
    for url, said in hostile.items():
        result = backups.run("restore", str(created["id"]), "--target", url, "--yes")
        assert result.exit_code == 2, (url, result.output)
        message = " ".join(result.stderr.split())
        assert said in message and "nothing was changed" in message, (url, message)
        assert "\x1b" not in result.output and "\x00" not in result.output
    assert not PWNED.exists()


def test_the_password_is_masked_in_the_plan(
    backups: Backups, rich_db: str, empty_target: str
) -> None:
    created = backups.json("create")
    with_password = empty_target.replace("postgres@", "postgres:s3cret-pw@")
    result = backups.run("restore", str(created["id"]), "--target", with_password)
    assert result.exit_code == 1, result.output  # a dry run
    assert "s3cret-pw" not in result.output and "postgres:***@" in result.stdout
    plan = backups.json("restore", str(created["id"]), "--target", with_password, code=1)
    assert "s3cret-pw" not in json.dumps(plan)


@pytest.mark.parametrize("given", ["1; rm -rf /", "$(id)", "[/x]", "1e9", "0"])
def test_a_hostile_backup_id_is_refused(backups: Backups, empty_target: str, given: str) -> None:
    result = backups.run("restore", given, "--target", empty_target, "--yes")
    assert result.exit_code == 2, result.output
    assert "is not a backup id" in result.stderr


def test_no_fitting_pg_restore_is_refused_before_the_plan(
    backups: Backups, rich_db: str, empty_target: str, tmp_path: Path
) -> None:
    created = backups.json("create")
    empty = tmp_path / "bin"
    empty.mkdir()
    backups.config.write_text(backups.config.read_text() + f"  bindir: {empty}\n")
    result = backups.run("restore", str(created["id"]), "--target", empty_target, "--yes")
    assert result.exit_code == 2
    assert "a pg_restore 15 or newer is needed" in " ".join(result.stderr.split())
    assert _tables(empty_target) == []


@pytest.mark.parametrize("damage", ["checksum", "cut-short"])
def test_a_damaged_data_file_stops_the_restore_at_once_naming_its_table(
    backups: Backups, rich_db: str, empty_target: str, damage: str
) -> None:
    created = backups.json("create")
    dump = Path(created["path"]) / "dump"
    listed = subprocess.run(
        [str(find_bindir() / "pg_restore"), "--list", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    [dump_id] = [
        line.split(";")[0] for line in listed.splitlines() if "TABLE DATA public calls" in line
    ]
    data = dump / f"{dump_id}.dat.zst"
    packed = data.read_bytes()
    # The frame's content checksum is its last 4 bytes: every row decompresses as it was,
    # and only the end says the file is not what was written.
    damaged = packed[:-1] + bytes([packed[-1] ^ 0xFF]) if damage == "checksum" else packed[:-40]
    data.write_bytes(damaged)

    result = backups.run("restore", str(created["id"]), "--target", empty_target, "--yes")
    assert result.exit_code == 1, result.output
    said = " ".join(result.stderr.split())
    assert f"cannot decompress the rows of public.calls ({data.name})" in said, said
    assert _one(empty_target, "select count(*) from calls") == 0  # nothing half loaded
    assert (
        _one(
            empty_target,
            "select count(*) from pg_stat_activity where datname = current_database()"
            " and pid <> pg_backend_pid()",
        )
        == 0
    )
