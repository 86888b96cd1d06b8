"""Real parts for every test: a throwaway PostgreSQL cluster, fresh databases, the sandbox
app on a real socket, and the state store on both SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
import typer.main
import typer.testing
from typer import _click as click

from opsbook.clock import FrozenClock
from opsbook.console import console, err
from opsbook.postgres.cluster import TempCluster
from opsbook.sandbox.app import create_app
from opsbook.sandbox.schema import apply_schema
from opsbook.sandbox.seed import seed
from opsbook.sandbox.settings import SandboxSettings
from opsbook.serving import BackgroundServer
from opsbook.store import Store, open_store

# typer's CliRunner turns the Typer app into its click command on every invoke, reading
# every command's signature again (~0.15 s for opsbook's tree, thousands of invokes per
# run). Each app is turned once; opsbook's root group loads each command once, lazily.
_commands: dict[int, tuple[typer.Typer, click.Command]] = {}


def _command_once(app: typer.Typer) -> click.Command:
    if id(app) not in _commands:
        _commands[id(app)] = (app, typer.main.get_command(app))  # the app kept: ids stay its
    return _commands[id(app)][1]


typer.testing._get_command = _command_once  # type: ignore[attr-defined,assignment]

# Fixed so that seeded data and signatures are the same on every run.
T0 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
_names = itertools.count()


def _database_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_names)}"


# The terminal's size as the run began, handed to pytest-xdist's workers: GNU readline,
# once something in a process loads it (the workers do), exports COLUMNS=80 and LINES=24,
# and a console built after that would be pinned to 80 columns.
# Every `opsbook` a test starts runs in its own process, as each test expects of the
# process it signals, kills or times; tests/cliserver starts the command server itself.
os.environ["OPSBOOK_SERVER"] = "off"

_TERMINAL = "OPSBOOK_TEST_TERMINAL"
if _TERMINAL not in os.environ:
    os.environ[_TERMINAL] = json.dumps({n: os.environ.get(n) for n in ("COLUMNS", "LINES")})
_TERMINAL_ENV: dict[str, str | None] = json.loads(os.environ[_TERMINAL])


def _size(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


@pytest.fixture(autouse=True)
def _terminal_as_the_run_began() -> Iterator[None]:
    """Every test starts with opsbook's consoles sized by the environment the run began
    with, as a command is: one test's 80 columns (a `width` set and undone pins it) must
    not squeeze every later test's tables."""
    for name, value in _TERMINAL_ENV.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    width, height = _size(_TERMINAL_ENV["COLUMNS"]), _size(_TERMINAL_ENV["LINES"])
    for each in (console, err):
        each._width, each._height = width, height
    yield
    for each in (console, err):
        each._width, each._height = width, height


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[TempCluster]:
    cluster = TempCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def app_role(pg_cluster: TempCluster) -> str:
    """A plain (non-superuser) login role, like the app's own database user."""
    pg_cluster.create_role("app_user")
    return "app_user"


@pytest.fixture(scope="session")
def watcher_role(pg_cluster: TempCluster) -> str:
    """A login role without pg_monitor, as managed PostgreSQL hands out: it sees other roles'
    sessions with their details hidden. Its name is hostile text (quotes, markup, `$(..)`)."""
    name = 'ops "watch" [/x] $(id)'
    pg_cluster.create_role(name)
    return name


@pytest.fixture(scope="session")
def sandbox_template(pg_cluster: TempCluster) -> str:
    """A small, seeded sandbox database that each test clones (CREATE DATABASE ... TEMPLATE)."""
    name = "sandbox_template"
    url = pg_cluster.create_database(name)
    apply_schema(url)
    seed(
        url,
        attempts=3000,
        years=2,
        orgs=3,
        users_per_org=5,
        scenarios=8,
        rng=random.Random(7),
        now=T0,
    )
    return name


@pytest.fixture
def pg_url(pg_cluster: TempCluster) -> Iterator[str]:
    """An empty database of its own for one test."""
    name = _database_name("t")
    url = pg_cluster.create_database(name)
    yield url
    pg_cluster.drop_database(name)


@pytest.fixture
def sandbox_db(pg_cluster: TempCluster, sandbox_template: str) -> Iterator[str]:
    """A seeded sandbox database of its own for one test."""
    name = _database_name("sb")
    url = pg_cluster.create_database(name, template=sandbox_template)
    yield url
    pg_cluster.drop_database(name)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@dataclass
class RunningSandbox:
    url: str
    database_url: str
    settings: SandboxSettings
    clock: FrozenClock

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.admin_token}"}


@pytest.fixture
def sandbox(sandbox_db: str, clock: FrozenClock) -> Iterator[RunningSandbox]:
    """The sandbox app served on 127.0.0.1, bound to a seeded database of its own."""
    settings = SandboxSettings(database_url=sandbox_db)
    server = BackgroundServer(create_app(settings, clock=clock, rng=random.Random(42))).start()
    try:
        yield RunningSandbox(server.url, sandbox_db, settings, clock)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store migrated once: building the schema through every migration costs about a
    second, copying the file a millisecond (test_store checks the migrations themselves)."""
    path = tmp_path_factory.mktemp("store-template") / "opsbook.db"
    open_store(f"sqlite:///{path}").close()
    return path


@pytest.fixture(scope="session")
def pg_store_template(pg_cluster: TempCluster) -> str:
    """The PostgreSQL twin of sqlite_store_template, cloned with CREATE DATABASE TEMPLATE."""
    name = "store_template"
    open_store(pg_cluster.create_database(name)).close()
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A state-store URL, already at the newest schema; every store test runs once on
    each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_store_template")
        shutil.copyfile(template, tmp_path / "opsbook.db")
        yield f"sqlite:///{tmp_path / 'opsbook.db'}"
        return
    cluster: TempCluster = request.getfixturevalue("pg_cluster")
    name = _database_name("store")
    yield cluster.create_database(name, template=request.getfixturevalue("pg_store_template"))
    cluster.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store, for the tests of the migrations themselves."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'opsbook.db'}"
        return
    cluster: TempCluster = request.getfixturevalue("pg_cluster")
    name = _database_name("fresh")
    yield cluster.create_database(name)
    cluster.drop_database(name)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


def wait_for(condition: Callable[[], bool], *, timeout: float = 15.0) -> None:
    """Poll a condition a real process will make true; fail loudly instead of hanging."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.02)


def process_alive(pid: int) -> bool:
    """True while the process runs; a zombie (exited, not yet reaped by init) is not alive."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")
