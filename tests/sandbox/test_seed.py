"""Seeded data is shaped like the seed's app and leaves the schema whole."""

from __future__ import annotations

import datetime as dt
import random

import psycopg

from opsbook.sandbox.schema import apply_schema, migration_files
from opsbook.sandbox.seed import seed
from tests.conftest import T0


def test_schema_is_recorded_as_supabase_migrations(pg_url: str) -> None:
    assert apply_schema(pg_url) == [m.version for m in migration_files()]
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "select version, name, array_length(statements, 1)"
            " from supabase_migrations.schema_migrations order by version desc limit 5"
        ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [
        ("20250601000000", "attempt_feedback"),
        ("20250301000000", "reporting_views"),
        ("20250101000000", "init"),
    ]
    # Statements are split the way the Supabase CLI records them, $$ bodies kept whole.
    assert rows[1][2] == 4  # two views, an index, and the function whole
    assert apply_schema(pg_url) == []


def test_seed_spreads_attempts_over_the_years(pg_url: str) -> None:
    apply_schema(pg_url)
    summary = seed(
        pg_url,
        attempts=60_000,
        years=3,
        orgs=4,
        users_per_org=6,
        scenarios=10,
        rng=random.Random(11),
        now=T0,
    )
    assert (summary.orgs, summary.users, summary.scenarios, summary.attempts) == (4, 24, 10, 60_000)
    with psycopg.connect(pg_url) as conn:
        count, in_progress, oldest, newest, low, high = (
            conn.execute(
                "select count(*), count(*) filter (where ended_at is null), min(started_at),"
                " max(started_at), min(score), max(score) from scenario_attempts"
            ).fetchone()
            or ()
        )
        assert count == 60_000
        assert in_progress == summary.in_progress > 0
        assert oldest >= T0 - dt.timedelta(days=3 * 365) and newest <= T0
        assert T0 - oldest > dt.timedelta(days=2 * 365)  # really spread over the years
        assert low >= 0 and high <= 100
        assert conn.execute(
            "select count(*) from scenario_attempts where ended_at is not null"
            " and (ended_at <= started_at or score is null or recording_path is null)"
        ).fetchone() == (0,)
        admins = conn.execute("select count(*) from users where role = 'admin'").fetchone()
        assert admins == (4,)
        # A bulk load drops and restores FKs and indexes: every one must be back.
        constraints = {
            r[0]
            for r in conn.execute(
                "select conname from pg_constraint where conrelid = 'scenario_attempts'::regclass"
            )
        }
        assert constraints == {
            "scenario_attempts_pkey",
            "scenario_attempts_org_id_fkey",
            "scenario_attempts_user_id_fkey",
            "scenario_attempts_scenario_id_fkey",
        }
        indexes = {
            r[0]
            for r in conn.execute(
                "select indexname from pg_indexes where tablename = 'scenario_attempts'"
            )
        }
        assert indexes == {
            "scenario_attempts_pkey",
            "scenario_attempts_ended_at_idx",
            "scenario_attempts_org_started_idx",
            "scenario_attempts_user_idx",
        }
        reported = conn.execute("select sum(attempts) from reporting_org_daily").fetchone()
        assert reported == (60_000,)


def test_seeding_again_adds_more(pg_url: str) -> None:
    apply_schema(pg_url)
    for random_seed in (1, 2):
        seed(
            pg_url,
            attempts=100,
            years=1,
            orgs=2,
            users_per_org=2,
            scenarios=3,
            rng=random.Random(random_seed),
            now=T0,
        )
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select count(*) from scenario_attempts").fetchone() == (200,)
        assert conn.execute("select count(*) from orgs").fetchone() == (4,)
