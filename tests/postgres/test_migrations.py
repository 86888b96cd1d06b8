from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.postgres.conftest import Db


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "20250101000000_init.sql").write_text(
        "create table notes (id bigint primary key, body text);\n"
        "create function touch() returns int language sql as $$ select 1; $$;\n"
    )
    (folder / "20250201000000_add_index.sql").write_text(
        "create index notes_body on notes (body);\n"
    )
    return folder


def _records(url: str) -> list[tuple[str, str, int]]:
    with psycopg.connect(url) as conn:
        return [
            (r[0], r[1], r[2])
            for r in conn.execute(
                "select version, name, array_length(statements, 1)"
                " from supabase_migrations.schema_migrations order by version"
            )
        ]


def test_status_then_apply_records_them_like_supabase(
    db: Db, migrations: Path, pg_url: str
) -> None:
    status = db.json("migrations", "status", "--dir", str(migrations), code=1)
    assert status["pending"] == ["20250101000000_init", "20250201000000_add_index"]
    refused = db.run("migrations", "apply", "--dir", str(migrations), "--yes")
    assert refused.exit_code == 2 and "--no-backup" in refused.output
    done = db.json("migrations", "apply", "--dir", str(migrations), "--no-backup", "--yes")
    assert done["applied"] == ["20250101000000_init", "20250201000000_add_index"]
    assert _records(pg_url) == [("20250101000000", "init", 2), ("20250201000000", "add_index", 1)]
    assert db.json("migrations", "status", "--dir", str(migrations))["pending"] == []


def test_a_failing_migration_rolls_back_and_names_the_statement(
    db: Db, migrations: Path, pg_url: str
) -> None:
    (migrations / "20250301000000_broken.sql").write_text(
        "create table extra (id int);\ninsert into nowhere values (1);\n"
    )
    result = db.run("migrations", "apply", "--dir", str(migrations), "--no-backup", "--yes")
    assert result.exit_code == 1
    assert "20250301000000_broken failed at statement 2 ('insert into nowhere values (1)')" in (
        result.output
    )
    assert 'relation "nowhere" does not exist' in result.output
    assert [r[0] for r in _records(pg_url)] == ["20250101000000", "20250201000000"]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select to_regclass('extra')").fetchone() == (None,)


def test_badly_named_files_are_refused(db: Db, migrations: Path) -> None:
    (migrations / "add_users.sql").write_text("select 1;")
    result = db.run("migrations", "status", "--dir", str(migrations))
    assert result.exit_code == 2
    assert "add_users.sql: migration files are named <14-digit timestamp>_<name>.sql" in (
        result.output
    )


def test_applied_migrations_without_files_are_reported(
    db: Db, migrations: Path, sandbox_db: str
) -> None:
    status = db.json(
        "--database-url", sandbox_db, "migrations", "status", "--dir", str(migrations), code=1
    )
    assert "20250601000000_attempt_feedback" in status["missing_files"]


def test_apply_without_yes_prints_what_is_pending_and_applies_nothing(
    db: Db, migrations: Path, pg_url: str
) -> None:
    planned = db.json("migrations", "apply", "--dir", str(migrations), "--no-backup")
    assert planned == {
        "applied": [],
        "dry_run": True,
        "pending": ["20250101000000_init", "20250201000000_add_index"],
    }
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select to_regclass('notes')").fetchone() == (None,)
