"""A split restore's post-data runs in stages: indexes, keys, triggers, policies and
grants first; then the foreign keys beside the materialized views' refreshes; the event
triggers last (so none fires on the restore's own DDL). Every session of a restore sorts
in `backups.restore_sort_memory`. Real server, real pg_restore; a refresh that fails
names its stage and leaves no pg_restore running; hostile names cannot move an entry
into another stage; a bad size is refused where it stands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from opsbook.backups import loading, split, stages
from opsbook.backups.errors import BackupError
from opsbook.config import ConfigError, parse_config
from tests.backups.conftest import Backups, write_config
from tests.backups.test_split import _pg_restores
from tests.conftest import wait_for

SOURCE = r"""
create table orgs (id int primary key, name text not null);
create table users (id int primary key, org_id int not null references orgs (id));
create table attempts (
    id bigserial primary key,
    org_id int not null references orgs (id),
    user_id int not null references users (id),
    score int
);
create index attempts_user on attempts (user_id);
-- Partitions: their keys and indexes are attached to the parent's (INDEX ATTACH).
create table events (
    id int, org_id int not null references orgs (id), at date not null, primary key (id, at)
) partition by range (at);
create table events_2025 partition of events for values from ('2025-01-01') to ('2026-01-01');
create table events_2026 partition of events for values from ('2026-01-01') to ('2027-01-01');
create index events_org on events (org_id);
insert into orgs select g, 'org ' || g from generate_series(1, 20) g;
insert into users select g, 1 + g % 20 from generate_series(1, 500) g;
insert into attempts (org_id, user_id, score)
    select 1 + g % 20, 1 + g % 500, g % 100 from generate_series(1, 60000) g;
insert into events
    select g, 1 + g % 20, date '2025-06-01' + g % 400 from generate_series(1, 5000) g;
create materialized view per_org as
    select org_id, count(*) as attempts, sum(score) as score from attempts group by org_id;
create unique index per_org_key on per_org (org_id);
-- A view of a view: refreshed after the one it reads.
create materialized view busiest as
    select org_id from per_org where attempts = (select max(attempts) from per_org);
-- Which maintenance_work_mem the session that refreshed it had.
create materialized view sorted_in as
    select current_setting('maintenance_work_mem') as memory;
comment on constraint attempts_user_id_fkey on attempts is 'every attempt has its user';
comment on index attempts_user is 'for the per-user page';
comment on table attempts is 'one row a try';
create table ddl_log (tag text);
create function log_ddl() returns event_trigger language plpgsql as $$
begin
    insert into ddl_log values (tg_tag);
end $$;
create event trigger log_every_ddl on ddl_command_end execute function log_ddl();
"""


@pytest.fixture
def staged_db(pg_url: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(SOURCE.encode())
    return pg_url


@pytest.fixture
def split_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(split, "SPLIT_AT", 1)


def _all(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(row) for row in conn.execute(query.encode())]


def _restore(backups: Backups, backup: int, target: str) -> dict[str, object]:
    result = backups.run("restore", str(backup), "--target", target, "--yes", "--json")
    assert result.exit_code == 0, result.output
    done: dict[str, object] = json.loads(result.stdout)
    return done


@pytest.mark.slow
@pytest.mark.usefixtures("split_everything")
def test_keys_views_and_event_triggers_come_back_and_no_event_trigger_fires(
    backups: Backups, staged_db: str, empty_target: str
) -> None:
    assert _all(staged_db, "select memory from sorted_in") != [("4MB",)]  # the server's own
    created = backups.json("create")
    done = _restore(backups, created["id"], empty_target)
    assert done["ok"] and done["split"], done
    for query in (
        "select * from per_org order by org_id",
        "select * from busiest",
        "select conname, pg_get_constraintdef(oid) from pg_constraint order by conname",
        "select evtname, evtevent, evtenabled from pg_event_trigger",
        "select indexname, indexdef from pg_indexes where schemaname = 'public' order by 1",
        "select inhrelid::regclass::text, inhparent::regclass::text from pg_inherits order by 1",
        "select objoid::regclass::text, description from pg_description d"
        " join pg_class c on c.oid = d.objoid order by 1",
        "select c.conname, d.description from pg_description d"
        " join pg_constraint c on c.oid = d.objoid order by 1",
        "select count(*), sum(id) from events",
    ):
        assert _all(empty_target, query) == _all(staged_db, query), query
    # Created last: it did not see the restore's ALTER TABLEs and REFRESHes.
    assert _all(empty_target, "select * from ddl_log") == []
    # The refresh ran in a session of the restore, which sorts in 4MB (the default).
    assert _all(empty_target, "select memory from sorted_in") == [("4MB",)]
    with psycopg.connect(empty_target) as conn, pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("insert into attempts (org_id, user_id) values (99, 1)")


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_restore_that_is_not_split_creates_its_event_triggers_last(
    backups: Backups, staged_db: str, empty_target: str, jobs: str
) -> None:
    created = backups.json("create")
    result = backups.run(
        "restore", str(created["id"]), "--target", empty_target, "--yes", "--json", "--jobs", jobs
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["split"] == []
    assert _all(empty_target, "select evtname from pg_event_trigger") == [("log_every_ddl",)]
    assert _all(empty_target, "select * from ddl_log") == []
    assert _all(empty_target, "select * from per_org order by org_id") == _all(
        staged_db, "select * from per_org order by org_id"
    )


@pytest.mark.slow
@pytest.mark.usefixtures("split_everything")
def test_restore_sort_memory_null_leaves_the_servers_setting(
    tmp_path: Path, staged_db: str, empty_target: str, backups: Backups
) -> None:
    server = _all(staged_db, "select memory from sorted_in")
    (tmp_path / "null").mkdir()
    config = write_config(tmp_path / "null", staged_db, "  restore_sort_memory: null\n")
    own = Backups(config, tmp_path / "null" / "backups", backups.clock)
    created = own.json("create")
    assert _restore(own, created["id"], empty_target)["ok"]
    assert _all(empty_target, "select memory from sorted_in") == server


@pytest.mark.slow
@pytest.mark.usefixtures("split_everything")
def test_a_refresh_that_fails_names_its_stage_and_stops_every_pg_restore(
    backups: Backups, staged_db: str, empty_target: str
) -> None:
    with psycopg.connect(staged_db, autocommit=True) as conn:
        conn.execute(
            "create table divisor (n int); insert into divisor values (1);"
            " create materialized view broken as select 1 / (select count(*)::int"
            " from divisor) as x; delete from divisor"
        )
    created = backups.json("create")
    result = backups.run("restore", str(created["id"]), "--target", empty_target, "--yes")
    assert result.exit_code == 1, result.output
    assert "pg_restore of the materialized views' data (post-data) exited with 1" in result.stderr
    assert "division by zero" in result.stderr
    assert _pg_restores() == []


def _line(dump_id: int, kind: str, rest: str) -> str:
    return f"{dump_id}; 1259 {16000 + dump_id} {kind} {rest} postgres"


def test_stages_go_by_the_kind_after_the_oids_never_by_a_name() -> None:
    hostile = 'x FK CONSTRAINT y; rm -rf $(touch pwned) "[/b]\x1b[31m'
    toc = [
        _line(1, "TABLE", f"public {hostile}"),
        _line(2, "TABLE DATA", "public MATERIALIZED VIEW DATA"),
        _line(3, "INDEX", "public EVENT TRIGGER x"),
        _line(4, "FK CONSTRAINT", f"public {hostile} fk"),
        _line(5, "MATERIALIZED VIEW DATA", "public per_org"),
        _line(6, "EVENT TRIGGER", "- log_every_ddl"),
        _line(7, "COMMENT", "- EVENT TRIGGER log_every_ddl"),
        _line(8, "COMMENT", "public TABLE attempts"),
        _line(9, "CONSTRAINT", "public attempts attempts_pkey"),
        _line(10, "SECURITY LABEL", "public CONSTRAINT fk ON attempts"),
    ]
    staged = stages.post_data_stages(toc)
    assert staged.later == [4, 5] and staged.last == [6, 7, 8, 10]
    assert staged.first(toc) == [1, 2, 3, 9]
    assert stages.post_data_stages(toc[:3]) == stages.Stages([], [])


def test_the_sort_memory_goes_after_the_callers_own_pgoptions() -> None:
    env = {"PGOPTIONS": "-c statement_timeout=0", "PGPASSWORD": "s3cret"}
    assert loading.session_settings(env, "4MB") == {
        "PGOPTIONS": "-c statement_timeout=0 -c maintenance_work_mem=4MB",
        "PGPASSWORD": "s3cret",
    }
    assert loading.session_settings({}, "512MB") == {"PGOPTIONS": "-c maintenance_work_mem=512MB"}
    assert loading.session_settings(env, None) is env
    own = {"PGOPTIONS": "-c maintenance_work_mem=64MB"}
    assert loading.session_settings(own, "4MB") is own  # the caller's choice wins
    even = {"PGOPTIONS": "-c application_name=x\\\\"}  # an escaped backslash: fine
    assert loading.session_settings(even, "4MB") == {
        "PGOPTIONS": "-c application_name=x\\\\ -c maintenance_work_mem=4MB"
    }
    with pytest.raises(BackupError, match="PGOPTIONS ends with a backslash"):
        loading.session_settings({"PGOPTIONS": "-c application_name=x\\"}, "4MB")
    for hostile in ("4MB -c fsync=off", "4MB\\ x", "$(touch pwned)", "4MB\x00", ""):
        with pytest.raises(BackupError, match="not a memory size"):
            loading.session_settings({}, hostile)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("4 MB", "a size with its unit, such as 4MB, 512kB or 1GB"),
        ("4mb", "a size with its unit"),
        ("'4MB -c fsync=off'", "a size with its unit"),
        ("'$(touch pwned)'", "a size with its unit"),
        ("'[/b]\\x1b[31m'", "a size with its unit"),
        ("512kB", "PostgreSQL takes 1MB to 2047GB"),
        ("0MB", "PostgreSQL takes 1MB to 2047GB"),
        ("2TB", "PostgreSQL takes 1MB to 2047GB"),
        ("99999999999999999999GB", "a size with its unit"),
        ("4", "expected text, got 4"),
    ],
)
def test_a_bad_sort_memory_is_refused_where_it_stands(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"backups:\n  restore_sort_memory: {value}\n", file="opsbook.yaml", env={})
    (issue,) = [str(i) for i in caught.value.issues]
    assert issue.startswith("opsbook.yaml:2:24: backups.restore_sort_memory: "), issue
    assert message in issue, issue


@pytest.mark.parametrize("value", ["1MB", "1024kB", "4MB", "1GB", "2047GB", "null"])
def test_a_good_sort_memory_is_taken(value: str) -> None:
    config = parse_config(
        f"backups:\n  restore_sort_memory: {value}\n", file="opsbook.yaml", env={}
    )
    assert config.backups.restore_sort_memory == (None if value == "null" else value)


SPLIT_AND_RUN = (
    "import sys; from opsbook.backups import split; split.SPLIT_AT = 1;"
    " from opsbook.cli import main; sys.argv = ['opsbook', *sys.argv[1:]]; main()"
)


def _restoring(url: str) -> list[str]:
    """What pg_restore's sessions on the database of `url` are running."""
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "select query from pg_stat_activity where datname = current_database()"
            " and application_name = 'pg_restore'"
        )
        return [row[0] for row in found]


def _programs_under(folder: Path) -> list[int]:
    """Live processes whose command line names something in `folder`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes()
        except OSError:
            continue
        if str(folder).encode() in words:
            found.append(int(cmdline.parent.name))
    return found


def _restoring_process(
    program: str, backups: Backups, backup_id: int, target: str
) -> subprocess.Popen[bytes]:
    """`opsbook backup restore ID --target URL --yes --jobs 2` as a real process."""
    return subprocess.Popen(
        [sys.executable, "-c", program, "--config", str(backups.config), "backup", "restore",
         str(backup_id), "--target", target, "--yes", "--jobs", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "OPSBOOK_SERVER": "off"},
    )  # fmt: skip


@pytest.mark.slow
def test_ctrl_c_during_a_long_refresh_ends_every_worker_and_its_session(
    backups: Backups, staged_db: str, empty_target: str, tmp_path: Path
) -> None:
    """pg_restore -j's workers are its children, and the server goes on with a statement
    whose client was killed: both must end with the restore, not when the refresh does."""
    with psycopg.connect(staged_db, autocommit=True) as conn:
        conn.execute(
            "create table flag (n int);"
            " create function nap(n int) returns int language sql as 'select 1 from pg_sleep(n)';"
            " create materialized view slow as select nap(n) from flag;"
            " insert into flag values (600)"  # the restore's refresh sleeps 10 minutes
        )
    created = backups.json("create")
    restore = _restoring_process(SPLIT_AND_RUN, backups, created["id"], empty_target)
    try:
        wait_for(lambda: any("REFRESH" in q for q in _restoring(empty_target)), timeout=120)
        restore.send_signal(signal.SIGINT)
        assert restore.wait(timeout=60) == 130
    finally:
        restore.kill()
        restore.wait()
    assert _programs_under(tmp_path) == []  # no pg_restore, no worker of one
    wait_for(lambda: _restoring(empty_target) == [], timeout=60)  # not after 10 minutes


RUN = "import sys; from opsbook.cli import main; sys.argv = ['opsbook', *sys.argv[1:]]; main()"


@pytest.mark.slow
@pytest.mark.parametrize("split_it", [False, True])
def test_sigterm_during_the_rows_commits_none_of_them_and_leaves_nothing_running(
    backups: Backups, pg_url: str, empty_target: str, tmp_path: Path, split_it: bool
) -> None:
    """`timeout` and systemd stop with SIGTERM: killed outright, opsbook closed its pipes
    and pg_restore's -j workers took that for the end of the rows and committed them."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            # Slow only in a restore: pg_restore's sessions sleep 20 ms a row.
            "create function slow_ok(n int) returns boolean language plpgsql as $$ begin"
            " if current_setting('application_name') = 'pg_restore' then"
            " perform pg_sleep(0.02); end if; return true; end $$;"
            " create table rows (n int check (public.slow_ok(n)));"
            " insert into rows select generate_series(1, 3000)"  # a minute to restore
        )
    created = backups.json("create")
    program = SPLIT_AND_RUN if split_it else RUN
    restore = _restoring_process(program, backups, created["id"], empty_target)
    try:
        wait_for(
            lambda: any("COPY public.rows" in q for q in _restoring(empty_target)), timeout=120
        )
        time.sleep(0.5)  # rows are going in
        restore.send_signal(signal.SIGTERM)
        assert restore.wait(timeout=60) == 130
    finally:
        restore.kill()
        restore.wait()
    assert _programs_under(tmp_path) == []  # no pg_restore, no worker of one
    wait_for(lambda: _restoring(empty_target) == [], timeout=60)
    with psycopg.connect(empty_target) as conn:
        assert conn.execute("select count(*) from rows").fetchone() == (0,)
    assert not list((backups.folder).glob(".restore-*"))  # its pipes' folder is gone
