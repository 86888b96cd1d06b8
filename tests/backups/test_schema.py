"""The schema as data, read from pg_catalog on a real server, and its differences named:
every kind a restore must bring back is described; a missing function, a changed column,
a sequence value outside what the dump could have read are each one named line; hostile
object names stay data."""

from __future__ import annotations

import copy

import psycopg
from psycopg import sql

from opsbook.backups import schema
from opsbook.postgres.queries import connect


def _described(url: str) -> schema.Description:
    with connect(url) as conn:
        return schema.describe(conn)


def test_the_rich_database_is_described_kind_by_kind(rich_db: str) -> None:
    found = _described(rich_db)
    assert "public.touch()" in found["function"]
    assert found["function"]["public.touch()"]["result"] == "trigger"
    trigger = found["trigger"]["public.calls.calls_touch"]
    assert "BEFORE INSERT OR UPDATE ON public.calls" in trigger["definition"]
    assert found["type"]["public.mood"]["labels"] == "'calm', 'busy', 'on fire'"
    assert found["sequence"]["public.ticket_numbers"]["last_value"] == 1040
    assert found["sequence"]["public.calls_id_seq"]["last_value"] == 41
    assert found["materialized view"]["public.calls_per_org"]["populated"] is True
    assert found["table"]["public.calls"]["persistence"] == "p"
    column = found["column"]["public.calls.ticket"]
    assert (column["type"], column["not_null"]) == ("integer", True)
    assert column["default"] == "nextval('ticket_numbers'::regclass)"
    assert found["constraint"]["public.calls.calls_org_id_fkey"]["type"] == "f"
    assert "public.orgs_name_key" in found["index"]
    assert "plpgsql" in found["extension"]
    assert schema.diff(found, _described(rich_db)) == []


def test_each_difference_is_named(rich_db: str) -> None:
    source = _described(rich_db)
    restored = copy.deepcopy(source)
    del restored["function"]["public.touch()"]
    restored["column"]["public.calls.ticket"]["type"] = "bigint"
    restored["sequence"]["public.calls_id_seq"]["last_value"] = 40
    restored["view"]["public.extra"] = {"definition": "select 1"}
    said = [d.text() for d in schema.diff(source, restored)]
    assert said == [
        "column public.calls.ticket: type integer vs bigint",
        "view public.extra: not in the source",
        "function public.touch(): missing in restore",
        "sequence public.calls_id_seq: 41 vs 40",
    ]
    # Without values (the source moved on since an older backup): the value is not a fault.
    assert "sequence" not in " ".join(d.text() for d in schema.diff(source, restored, values=False))


def test_a_sequence_value_passes_between_the_readings_around_the_dump(rich_db: str) -> None:
    before = _described(rich_db)
    restored = copy.deepcopy(before)
    after = {"public.calls_id_seq": 45, "public.orgs_id_seq": 2, "public.ticket_numbers": 1040}
    restored["sequence"]["public.calls_id_seq"]["last_value"] = 43
    assert schema.diff(before, restored, sequences_after=after) == []
    restored["sequence"]["public.calls_id_seq"]["last_value"] = 46
    [outside] = schema.diff(before, restored, sequences_after=after)
    assert outside.text() == "sequence public.calls_id_seq: 46, outside 41..45 (while dumped)"


def test_hostile_names_are_described_and_shown_as_data(pg_url: str) -> None:
    hostile = 'x"; rm -rf /tmp/x; $(touch /tmp/pwned) [/x] \x1b[31m'
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create table {} (id int)").format(sql.Identifier(hostile)))
    found = _described(pg_url)
    [name] = found["table"]
    assert name.startswith('public."x""; rm -rf /tmp/x; $(touch /tmp/pwned) [/x] ')
    [missing] = schema.diff({"table": found["table"]}, {})
    assert "\x1b" not in missing.text() and "missing in restore" in missing.text()
