"""Query text leaves the database with its passwords masked: `ALTER ROLE ... PASSWORD`,
user mappings' options and connection strings, read from real sessions on a real server
by every `opsbook db` command that shows query text, as a table and as JSON."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from opsbook.postgres.query_text import mask_query, masked_row
from tests.conftest import wait_for
from tests.postgres.conftest import Db, Sessions

SECRET = "hunter2-Zq9"


@pytest.mark.parametrize(
    ("statement", "masked"),
    [
        (f"ALTER ROLE app PASSWORD '{SECRET}'", "ALTER ROLE app PASSWORD ***"),
        (f"alter role app with password '{SECRET}' valid until 'infinity'", None),
        (f"CREATE USER x WITH ENCRYPTED PASSWORD '{SECRET}' LOGIN", None),
        (f"create role x login unencrypted password '{SECRET}'", None),
        (f"CREATE USER x PASSWORD 'it''s {SECRET}'", "CREATE USER x PASSWORD ***"),
        (f"alter role x password E'a\\'{SECRET}'", "alter role x password ***"),
        (f"alter role x password $$ {SECRET} $$ login", "alter role x password *** login"),
        (f"alter role x password $pw${SECRET}$pw$", "alter role x password ***"),
        (f"alter role x password 'cut by left(query, n) {SECRET}", "alter role x password ***"),
        (f"alter role x password'{SECRET}'", "alter role x password***"),
        (
            f"CREATE USER MAPPING FOR app SERVER far OPTIONS (user 'bob', password '{SECRET}')",
            "CREATE USER MAPPING FOR app SERVER far OPTIONS (user 'bob', password ***)",
        ),
        (f"alter user mapping for app server far options (set password '{SECRET}')", None),
        (
            f"select dblink_connect('host=db password={SECRET} dbname=app')",
            "select dblink_connect('host=db password=*** dbname=app')",
        ),
        (f"select dblink_connect('host=db password=''a {SECRET}'' dbname=app')", None),
        (f"select dblink_connect('postgresql://app:{SECRET}@db/app')", None),
        (f"select * from users where password = '{SECRET}'", None),  # noqa: S608 - masked, not run
        # Hostile text around the literal stays as it is; the literal goes.
        (f"/* [/x] \x1b[2J $(rm -rf /); */ alter role x password '{SECRET}'", None),
    ],
)
def test_mask_query_masks_the_password_literal(statement: str, masked: str | None) -> None:
    found = mask_query(statement)
    assert SECRET not in found and "***" in found
    if masked is not None:
        assert found == masked
    assert mask_query(found) == found  # masking twice changes nothing


def test_text_without_a_password_literal_is_kept() -> None:
    for text in [
        "select password, password_encryption from users",
        "alter role x password null",
        "show password_encryption",
        "select 'password' as word",
    ]:
        assert mask_query(text) == text
    row = {"query": f"alter role x password '{SECRET}'", "note": f"password '{SECRET}'"}
    assert masked_row(row) == {"query": "alter role x password ***", "note": row["note"]}


@pytest.fixture
def role(pg_url: str) -> Iterator[str]:
    name = f"qt_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"create role {name} login")
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"drop role if exists {name}")


def _waiting(sessions: Sessions, pid: int) -> bool:
    with psycopg.connect(sessions.url) as conn:
        row = conn.execute(
            "select wait_event_type from pg_stat_activity where pid = %s", (pid,)
        ).fetchone()
    return row is not None and row[0] == "Lock"


def test_db_commands_show_query_text_with_passwords_masked(
    db: Db, sessions: Sessions, role: str, app_role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # a wide terminal: table cells shown whole
    # One session sets the role's password in an open transaction; a second, setting it
    # again, waits on it (active, blocked); a third ran a connection string and is idle.
    holder = sessions.open(autocommit=False)
    holder.execute(f"alter role {role} password 'first-{SECRET}'")
    waiter = sessions.open()
    sessions.in_background(waiter, f"ALTER ROLE {role} WITH ENCRYPTED PASSWORD '{SECRET}'")
    wait_for(lambda: _waiting(sessions, sessions.pid(waiter)))
    idle = sessions.open(role=app_role)
    idle.execute(f"select 'host=db password={SECRET} dbname=app' as conninfo")
    try:
        shown = {
            " ".join(args): db.run(*args)
            for args in [
                ("slow",),
                ("slow", "--json"),
                ("blocked",),
                ("blocked", "--json"),
                ("idle", "--older-than", "0s", "--json"),
                ("idle", "--older-than", "0s", "--in-transaction", "--json"),
                ("status", "--json"),
            ]
        }
        for args, result in shown.items():
            assert result.exit_code == 0, (args, result.output)
            assert SECRET not in result.output, args
        slow = json.loads(shown["slow --json"].stdout)
        queries = [q["query"] for q in slow]
        assert f"ALTER ROLE {role} WITH ENCRYPTED PASSWORD ***" in queries
        assert "ENCRYPTED PASSWORD ***" in shown["slow"].stdout
        blocked = json.dumps(json.loads(shown["blocked --json"].stdout))
        assert f"alter role {role} password ***" in blocked
        idle_listed = json.loads(shown["idle --older-than 0s --json"].stdout)
        assert "'host=db password=*** dbname=app'" in json.dumps(idle_listed)
    finally:
        holder.rollback()
