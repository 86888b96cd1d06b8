"""`backup restore --from-sql`: a .sql file is data. psql runs it restricted, so a
meta-command anywhere in it (a shell, another database, an output file, a client-side
copy to a program, one in the middle of a line) is refused at its line and never runs;
a real pg_dump plain file, whose COPY data holds backslashes, tabs and `\\N`, and which
pg_dump 15.14+ wraps in its own `\\restrict`, still restores."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from opsbook.backups import pgdump, restore, sqlfile
from opsbook.backups.errors import BackupError
from opsbook.clock import FrozenClock
from opsbook.config.backups import BackupsConfig
from opsbook.postgres.cluster import find_bindir
from opsbook.store import Store
from tests.backups.conftest import Backups
from tests.backups.conftest import public_tables as _tables

PWNED = Path("/tmp/opsbook-sql-pwned")


SQL = "create table t (id int);\ninsert into t values (1);\n"
HOSTILE = {
    "shell": f"{SQL}\\! touch {PWNED}\n",
    "connect": SQL + "\\connect postgres\ncreate table in_postgres (id int);\n",
    "output file": f"{SQL}\\o {PWNED}\nselect 1;\n",
    "copy to program": f"{SQL}\\copy t to program 'touch {PWNED}'\n",
    "mid-line": f"{SQL}select 1 \\! touch {PWNED}\n",
    "setenv": SQL + "\\setenv PGPASSWORD x\n",
    "a guessed unrestrict": f"{SQL}\\unrestrict abc\n\\! touch {PWNED}\n",
    "a restrict of its own, not first": f"{SQL}\\restrict k1\n\\! touch {PWNED}\n",
    "pg_dump's restrict pair, then a command": (
        f"\\restrict k1\n{SQL}\\unrestrict k1\n\\! touch {PWNED}\n"
    ),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_meta_command_in_the_file_is_refused_at_its_line_and_never_runs(
    backups: Backups, empty_target: str, tmp_path: Path, name: str
) -> None:
    PWNED.unlink(missing_ok=True)
    file = tmp_path / "hostile $(id) [x] ;rm.sql"
    body = HOSTILE[name]
    file.write_text(body)
    line = next(n for n, text in enumerate(body.splitlines(), 1) if "\\" in text)
    if name == "pg_dump's restrict pair, then a command":
        line = 4  # pg_dump's closing line is only blanked when no command follows it
    result = backups.run("restore", "--from-sql", str(file), "--target", empty_target, "--yes")
    assert result.exit_code == 1, result.output
    message = " ".join(result.stderr.split())
    assert f"{file.name}:{line}: a psql meta-command" in message, message
    assert "refused, a .sql file is data" in message
    assert not PWNED.exists()
    assert "in_postgres" not in _tables(empty_target.rsplit("/", 1)[0] + "/postgres")


def test_a_real_plain_dump_with_backslashes_in_its_copy_data_restores(
    backups: Backups, pg_url: str, empty_target: str, tmp_path: Path
) -> None:
    values = ["back\\slash", "tab\there", "\\N", "\\.", "line\nbreak", "\\! touch x", "'q'"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("create table odd (id serial primary key, v text)")
        for value in [*values, None]:
            conn.execute("insert into odd (v) values (%s)", [value])
    dump = tmp_path / "plain.sql"
    with dump.open("wb") as out:
        subprocess.run([str(find_bindir() / "pg_dump"), pg_url], stdout=out, check=True)
    text = dump.read_text()
    assert "\\N" in text and "\\\\." in text and "\\." in text
    result = backups.run("restore", "--from-sql", str(dump), "--target", empty_target, "--yes")
    assert result.exit_code == 0, result.output
    # The test cluster's role is a superuser: the plan says what a file's SQL could do.
    said = " ".join(result.output.split())
    assert "a SUPERUSER: SQL in the file (COPY ... TO PROGRAM, ALTER SYSTEM) acts on" in said
    with psycopg.connect(empty_target) as conn:
        got = [r[0] for r in conn.execute("select v from odd order by id")]
    assert got == [*values, None]


def test_pg_dumps_own_restrict_lines_are_blanked_and_nothing_else() -> None:
    dump = [b"--\n", b"\\restrict AbC1\n", b"\n", b"select 1;\n", b"\\unrestrict AbC1\n", b"--\n"]
    assert list(sqlfile.filtered(dump)) == [b"--\n", b"\n", b"\n", b"select 1;\n", b"\n", b"--\n"]
    later = [b"select 1;\n", b"\\restrict AbC1\n"]
    assert list(sqlfile.filtered(later)) == later  # not the first command: psql refuses it
    followed = [b"\\restrict K\n", b"\\unrestrict K\n", b"\\! id\n"]
    assert list(sqlfile.filtered(followed)) == [b"\n", b"\\unrestrict K\n", b"\\! id\n"]


@pytest.mark.parametrize(
    ("version", "ok"),
    [("15.13", False), ("15.14", True), ("16.9", False), ("17.6", True), ("18.0", True)],
)
def test_a_psql_without_restrict_is_refused(version: str, ok: bool) -> None:
    tool = pgdump.PgTool(Path("/x/psql"), version, int(version.split(".")[0]))
    if ok:
        assert sqlfile.check_psql(tool) is tool
    else:
        with pytest.raises(BackupError, match=r"psql \d+\.\d+ or newer is needed"):
            sqlfile.check_psql(tool)


def test_a_second_restore_into_one_target_waits_its_turn(
    backups: Backups, empty_target: str, tmp_path: Path
) -> None:
    file = tmp_path / "one.sql"
    file.write_text("create table one (id int);\n")
    with psycopg.connect(empty_target, autocommit=True) as other_restore:
        other_restore.execute("select pg_advisory_lock(%s)", [restore.RESTORE_LOCK])
        result = backups.run("restore", "--from-sql", str(file), "--target", empty_target, "--yes")
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert "another restore into" in message and "nothing was changed" in message
    assert _tables(empty_target) == []


def test_a_target_written_into_after_the_plan_is_refused_at_act_time(
    empty_target: str, tmp_path: Path, store: Store, clock: FrozenClock
) -> None:
    file = tmp_path / "one.sql"
    file.write_text("create table one (id int);\n")
    plan = restore.plan_sql_restore(
        sql_file=file, target_url=empty_target, production_url=None, clean=False, bindir=None
    )
    with psycopg.connect(empty_target, autocommit=True) as conn:
        conn.execute("create table meanwhile (id int)")
    with pytest.raises(BackupError, match="no longer empty"):
        restore.restore(
            store=store, plan=plan, settings=BackupsConfig(), work_root=tmp_path,
            actor="alice", clock=clock,
        )  # fmt: skip
    assert _tables(empty_target) == ["meanwhile"]
