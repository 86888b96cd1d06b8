"""A config pointing at a real database and a backups folder, the CLI run in-process with
the test's clock (and, when a test says so, a person at a terminal), and a restore done by
the package's own recipe (split.restore_backup: pg_restore -j, the largest tables split)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner, Result

from opsbook.backups import archive, split
from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.context import AppContext
from opsbook.postgres.cluster import TempCluster, find_bindir


@dataclass
class Backups:
    config: Path
    folder: Path
    clock: FrozenClock

    def run(self, *args: str, typed: str | None = None) -> Result:
        """`opsbook backup ARGS`; with `typed`, at a terminal where that is typed."""
        return self.opsbook("backup", *args, typed=typed)

    def opsbook(self, *args: str, typed: str | None = None) -> Result:
        """`opsbook ARGS` on this config and clock."""
        context = AppContext(clock=self.clock, interactive=typed is not None)
        return CliRunner(env={"COLUMNS": "200"}).invoke(
            app, ["--config", str(self.config), *args], obj=context, input=typed
        )

    def json(self, *args: str, code: int = 0) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == code, result.output
        return json.loads(result.stdout)


def write_config(tmp_path: Path, database_url: str, extra: str = "") -> Path:
    config = tmp_path / "opsbook.yaml"
    config.write_text(
        f"store:\n  url: sqlite:///{tmp_path / 'opsbook.db'}\n"
        f"database:\n  url: {database_url}\n"
        f"backups:\n  dir: {tmp_path / 'backups'}\n{extra}"
    )
    return config


@pytest.fixture
def backups(
    tmp_path: Path, pg_url: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Backups:
    monkeypatch.setenv("OPSBOOK_ACTOR", "alice")
    return Backups(write_config(tmp_path, pg_url), tmp_path / "backups", clock)


@pytest.fixture
def empty_target(pg_cluster: TempCluster, request: pytest.FixtureRequest) -> str:
    name = f"restore_{abs(hash(request.node.name)) % 10**8}"
    url = pg_cluster.create_database(name)
    request.addfinalizer(lambda: pg_cluster.drop_database(name))
    return url


def read_pipes(paths: list[Path]) -> dict[str, bytes]:
    """Each pipe read to its end at once (a pipe's writer waits for its reader), by name."""
    found: dict[str, bytes] = {}

    def read(path: Path) -> None:
        found[path.name] = path.read_bytes()

    readers = [threading.Thread(target=read, args=(p,)) for p in paths]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=60)
        assert not reader.is_alive()
    return {p.name: found[p.name] for p in paths}


def public_tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "select relname from pg_class where relnamespace = 'public'::regnamespace"
            " and relkind = 'r' order by 1"
        )
        return [row[0] for row in found]


def restore(cluster: TempCluster, backup: Path, name: str) -> str:
    """A new database `name` holding what the backup folder holds."""
    manifest = archive.load_manifest(backup)
    tool = archive.pg_restore(str(find_bindir()), manifest["pg_dump_version"])
    url = cluster.create_database(name)
    split.restore_backup(tool, backup, url, work_root=backup.parent, jobs=2, manifest=manifest)
    return url


RICH_SCHEMA = """
create type mood as enum ('calm', 'busy', 'on fire');
create sequence ticket_numbers start 1000;
create table orgs (id serial primary key, name text not null unique, meta jsonb not null);
create table calls (
    id bigserial primary key,
    org_id int not null references orgs (id) on delete cascade,
    ticket int not null default nextval('ticket_numbers'),
    tags text[] not null default '{}',
    mood mood not null,
    transcript text,
    touched_at timestamptz
);
create function touch() returns trigger language plpgsql as $$
begin new.touched_at := '2026-03-02 09:30:00+00'; return new; end $$;
create trigger calls_touch before insert or update on calls
    for each row execute function touch();
create materialized view calls_per_org as
    select org_id, count(*) as calls from calls group by org_id;
insert into orgs (name, meta) values
    ('acme', '{"plan": "pro", "seats": [1, 2, 3]}'),
    ('globex', '{"plan": "free", "nested": {"a": {"b": null}}}');
insert into calls (org_id, tags, mood, transcript)
    select 1 + g % 2, array['t' || g, 'x'], (array['calm', 'busy', 'on fire'])[1 + g % 3]::mood,
           'call ' || g
    from generate_series(1, 40) g;
-- One row far past the TOAST threshold (2 kB), compressed and stored out of line.
insert into calls (org_id, mood, transcript)
    select 1, 'calm', string_agg(md5(g::text), '') from generate_series(1, 20000) g;
refresh materialized view calls_per_org;
"""


@pytest.fixture
def rich_db(pg_url: str) -> str:
    """A small database with what a restore has to bring back: jsonb, arrays, an enum, a
    sequence, a function and its trigger, a foreign key, a materialized view, a large
    TOASTed row."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(RICH_SCHEMA.encode())
    return pg_url
