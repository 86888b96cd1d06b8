"""Query text leaves the database with its passwords masked: `ALTER ROLE ... PASSWORD`,
user mappings' options and connection strings, read from real sessions on a real server
by every `opsbook db` command that shows query text, as a table and as JSON."""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.postgres.query_text import mask_query, masked_row
from opsbook.postgres.sql_tokens import tokens
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
        # A comment between the keyword and its literal (comments nest).
        (f"ALTER USER app PASSWORD /* c */ '{SECRET}'", "ALTER USER app PASSWORD /* c */ ***"),
        (f"alter user app password /* a /* b */ c */ '{SECRET}'", None),
        (f"ALTER USER app PASSWORD -- c\n '{SECRET}'", "ALTER USER app PASSWORD -- c\n ***"),
        (f"alter user app password /* 'not it' */ '{SECRET}'", None),
        # The option or column named in quotes.
        (
            f"CREATE USER MAPPING FOR app SERVER far OPTIONS (user 'u', \"password\" '{SECRET}')",
            "CREATE USER MAPPING FOR app SERVER far OPTIONS (user 'u', \"password\" ***)",
        ),
        (f"update users set \"password\" = '{SECRET}'", 'update users set "password" = ***'),  # noqa: S608
        (f"update users set \"PASSWORD\"='{SECRET}'", None),  # noqa: S608 - masked, not run
        # Literals continued on the next line are one literal.
        (f"ALTER ROLE app PASSWORD 'a'\n'{SECRET}'", "ALTER ROLE app PASSWORD ***\n***"),
        (f"alter role app password 'a' -- c\n  E'{SECRET}' login", None),
        # Passwords on the command line COPY ... PROGRAM runs.
        (
            f"COPY t FROM PROGRAM 'PGPASSWORD={SECRET} psql -h x'",
            "COPY t FROM PROGRAM 'PGPASSWORD=*** psql -h x'",
        ),
        (
            f"copy t from program 'curl -sf -u admin:{SECRET} https://x/e'",
            "copy t from program 'curl -sf -u admin:*** https://x/e'",
        ),
        (f"copy t to program 'gzip | curl --user=a:{SECRET} -T - x'", None),
        (
            f"COPY t FROM PROGRAM 'mysql -h db -p{SECRET} -e \"select 1\"'",
            "COPY t FROM PROGRAM 'mysql -h db -p*** -e \"select 1\"'",
        ),
        (f"copy t from program 'DB_PASSWORD={SECRET} ./export.sh'", None),
        # A setting named a password: masked, and the text around it kept whole.
        (
            f"select set_config('app.password','{SECRET}',false)",
            "select set_config('app.password',***,false)",
        ),
        (f"select jsonb_build_object('password', '{SECRET}')", None),
        (f"ALTER SYSTEM SET app.password TO '{SECRET}'", "ALTER SYSTEM SET app.password TO ***"),
        (f"update users set password = crypt('{SECRET}', gen_salt('bf'))", None),  # noqa: S608 - masked, not run
        # A backslash-escaped space in an E'' connection string, single or doubled.
        (
            f"CREATE SUBSCRIPTION s CONNECTION E'host=x password=hun\\\\ {SECRET}' PUBLICATION p",
            "CREATE SUBSCRIPTION s CONNECTION E'host=x password=***' PUBLICATION p",
        ),
        (f"create subscription s connection E'host=x password=a\\ {SECRET}' publication p", None),
        # Unterminated everything: text cut short by left(query, n).
        (f"alter role x password /* c */ '{SECRET}", "alter role x password /* c */ ***"),
        (f"alter role x password E'{SECRET}\\", "alter role x password ***"),
        (f"alter role x password $a${SECRET}", "alter role x password ***"),
    ],
)
def test_mask_query_masks_the_password_literal(statement: str, masked: str | None) -> None:
    found = mask_query(statement)
    assert SECRET not in found and "***" in found
    if masked is not None:
        assert found == masked
    assert mask_query(found) == found  # masking twice changes nothing


KEPT = [
    "select password, password_encryption from users",
    "alter role x password null",
    "show password_encryption",
    "select 'password' as word",
    "select 'password reset email sent' as note, 'reset your password' as subject",
    "select * from users where email = 'a@b.c' and not password_set",
    "comment on column users.password is 'bcrypt, cost 12'",
    "select pid, left(query, 80) from pg_stat_activity where state = 'active'",
    "select current_setting('app.password') is not null",
    "insert into audit (what) values ('password changed'), ('login')",
    "select $1::text, 'passwords', \"password_hint\" from users",
    "select E'it\\'s', $$password$$, U&'d\\0061t' -- a password\n",
    "copy t from program 'docker run -u 1000:1000 app; psql -p5432 -h db'",
    "/* password */ select 1; -- password: see the vault",
    "select 'ok' as \"[/x]\", '\x1b[2J' as ansi, '$(rm -rf /); `id`' as cmd",
    "",
]


@pytest.mark.parametrize("text", KEPT)
def test_text_without_a_password_literal_is_kept(text: str) -> None:
    assert mask_query(text) == text


def test_every_string_of_a_row_is_masked_whatever_its_column_is_named() -> None:
    statement = f"alter role x password '{SECRET}'"
    row: dict[str, Any] = {
        "query": statement,
        "left": statement[:40],
        "q": statement,
        "current_query": statement,
        "activity": {"query": statement, "depth": [[{"q": [statement]}]], "pid": 7},
        "queries": [statement, None, 3],
        "pid": 42,
        "note": "password reset email sent",
    }
    masked = masked_row(row)
    assert SECRET not in json.dumps(masked)
    assert masked["left"] == "alter role x password ***"
    assert masked["activity"] == {
        "query": "alter role x password ***",
        "depth": [[{"q": ["alter role x password ***"]}]],
        "pid": 7,
    }
    assert masked["queries"] == ["alter role x password ***", None, 3]
    assert (masked["pid"], masked["note"]) == (42, "password reset email sent")
    assert row["activity"]["query"] == statement  # the row itself is left as it was


def test_a_json_value_nested_as_deep_as_python_parses_is_masked() -> None:
    deep = json.loads("[" * 900 + json.dumps(f"password='{SECRET}'") + "]" * 900)
    masked = masked_row({"v": deep})["v"]
    for _ in range(900):
        masked = masked[0]
    assert masked == "password=***"


@pytest.mark.parametrize(
    "text",
    [
        "password /*" * 90_000,  # a comment opened after every keyword, never closed
        "password --" * 90_000,
        "'" * 1_000_000,
        "password=" + "\\" * 1_000_000,
        "alter role x password 'a'\n" * 10_000,
        "'password', " * 20_000,
        "$a$" * 330_000,
    ],
    ids=["comments", "line-comments", "quotes", "backslashes", "keywords", "keys", "dollars"],
)
def test_a_megabyte_of_hostile_text_is_masked_in_one_pass(text: str) -> None:
    """The tokenizer reads each character once: no pattern is retried from every keyword
    to the end of the text (what made 1 MB of `password /*` quadratic)."""
    assert "'a'" not in mask_query(text)


@given(st.text(alphabet=st.sampled_from("pasword'\"E$/*-\n =(),\\:;xU&")))
def test_any_text_is_tokenized_whole_and_masked_without_raising(text: str) -> None:
    found = list(tokens(text))
    assert "".join(text[t.start : t.end] for t in found) == text
    assert all(t.start < t.end for t in found)
    mask_query(text)


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


ALIASED = """\
    name: who-runs-what
    title: Who runs what
    parameters:
      pid: {type: int, required: true}
    steps:
      - id: activity
        title: Sessions and what they run
        sql: >-
          select pid, left(query, 200), query as q, row_to_json(a)::jsonb as activity,
                 array[query] as queries, 'password reset email sent' as note
          from pg_stat_activity a
          where pid = %(pid)s::int
        sql_params: {pid: "{{ params.pid }}"}
    """


def test_a_runbook_sql_step_shows_aliased_query_text_masked(
    tmp_path: Path, pg_url: str, sessions: Sessions, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSBOOK_ACTOR", "alice")
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "who-runs-what.yaml").write_text(textwrap.dedent(ALIASED))
    config = tmp_path / "opsbook.yaml"
    config.write_text(
        f"store:\n  url: sqlite:///{tmp_path / 'opsbook.db'}\n"
        f"database:\n  url: {pg_url}\nrunbooks:\n  paths: [runbooks]\n"
    )
    # A session holds its ALTER ROLE in an open transaction: pg_stat_activity shows it.
    holder = sessions.open(autocommit=False)
    holder.execute(f"alter role {role} password /* set by hand */ '{SECRET}'")
    try:
        args = ["--config", str(config), "runbook", "run", "who-runs-what"]
        pid = ["--param", f"pid={sessions.pid(holder)}", "--json"]
        result = CliRunner().invoke(app, [*args, *pid])
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
        [row] = json.loads(result.stdout)["steps"][0]["output"]["rows"]
        said = f"alter role {role} password /* set by hand */ ***"
        assert (row["left"], row["q"], row["queries"]) == (said, said, [said])
        assert row["activity"]["query"] == said
        assert row["note"] == "password reset email sent"
        assert SECRET.encode() not in (tmp_path / "opsbook.db").read_bytes()
    finally:
        holder.rollback()
