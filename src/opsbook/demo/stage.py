"""The demo's stage, set up before any scenario plays: a throwaway PostgreSQL (or the
one given), the sandbox app seeded and served, the stand-ins its config points at, and
that config written into the demo's state directory."""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from opsbook.config import Config
from opsbook.console import console, safe
from opsbook.demo.profile import demo_config
from opsbook.postgres.cluster import TempCluster, free_port
from opsbook.sandbox.app import create_app
from opsbook.sandbox.schema import apply_schema
from opsbook.sandbox.seed import seed
from opsbook.sandbox.settings import DEFAULT_PORT, SandboxSettings
from opsbook.serving import BackgroundServer


@dataclass(frozen=True)
class Stage:
    """What every scenario gets: `cleanup` undoes whatever it starts, in reverse."""

    cleanup: ExitStack
    state_dir: Path
    config: Config
    settings: SandboxSettings
    app_url: str


def set_up(
    cleanup: ExitStack, state_dir: Path, database_url: str | None, port: int | None, attempts: int
) -> Stage:
    app_database_url, database_url = _database(cleanup, database_url)
    apply_schema(app_database_url)
    started = time.monotonic()
    summary = seed(app_database_url, attempts=attempts, years=3)
    console.print(
        f"seeded            {summary.attempts:,} attempts over 3 years "
        f"in {time.monotonic() - started:.1f}s"
    )
    settings = SandboxSettings(database_url=app_database_url)
    server = BackgroundServer(create_app(settings), port=_pick_port(port)).start()
    cleanup.callback(server.stop)
    console.print(f"sandbox app       {server.url}")
    config = demo_config(cleanup, state_dir, server.url, database_url, settings)
    console.print(f"opsbook config    {safe(config.source)}")
    return Stage(cleanup, state_dir, config, settings, server.url)


def _database(cleanup: ExitStack, given: str | None) -> tuple[str, str]:
    """(the app's database URL, opsbook's): a throwaway cluster unless one is given."""
    if given is not None:
        console.print("PostgreSQL        using the database given with --database-url")
        return given, given
    console.print("starting a throwaway PostgreSQL...")
    cluster = TempCluster.start()
    cleanup.callback(cluster.stop)
    # The app connects as its own plain role, as on Supabase; opsbook as the admin.
    cluster.create_role("app")
    app_database_url = cluster.create_database("voiceaitraining", owner="app")
    database_url = cluster.url("voiceaitraining")
    cut_off_runaway_queries(cluster.url(), "voiceaitraining")
    console.print(
        f"PostgreSQL        {database_url}  (cluster in {cluster.root}, "
        f"server pid {cluster.server_pid()})"
    )
    return app_database_url, database_url


def cut_off_runaway_queries(admin_url: str, database: str) -> None:
    """The runbook's prevention advice, taken: a statement_timeout for the app's database
    (the `database` check says degraded without one)."""
    alter = sql.SQL("alter database {} set statement_timeout = '60s'")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(alter.format(sql.Identifier(database)))


def _pick_port(port: int | None) -> int:
    if port is not None:
        return port
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", DEFAULT_PORT))
        return DEFAULT_PORT
    except OSError:
        return free_port()
