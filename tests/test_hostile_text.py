"""Hostile text planted everywhere opsbook takes text from (the command line, the config,
a runbook folder, a check's output, the Alertmanager receiver, the target database), then
every printing command run over it: none crashes, no control character reaches the
terminal raw, and the text shows as typed (`[/oops]` is printed, not read as a tag).

CliRunner is no terminal, so Rich writes no styles of its own: an ESC in the output can
only have come from data. (Rich's colour sequences are still removed before looking, in
case FORCE_COLOR is set where the tests run.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import typer
import yaml
from psycopg import sql
from typer.testing import CliRunner, Result

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import load_config
from opsbook.context import AppContext
from opsbook.notify.worker import deliver_due
from opsbook.postgres.cluster import free_port
from opsbook.serving import BackgroundServer
from opsbook.store import open_store
from opsbook.watch import service
from opsbook.watch.runner import run_checks
from opsbook.web.app import create_app
from tests.conftest import RunningSandbox, wait_for
from tests.notify.fakes import FakeSlack, Reply

# Markup that crashes Rich or restyles a line, terminal sequences (clear the screen, set
# the window title), a bidi override, CR, NUL and a C1 CSI, and shell syntax that must
# stay words.
HOSTILE = (
    "[/oops] x [b]bold[/b] [bold red]boom[/][link=http://evil]click[/link] \x1b[2J \x1b]0;pwn\x07 "
    "\u202eevil cr\r nul\x00 c1\x9b ; rm -rf / $(touch pwned)"
)
ARG = HOSTILE.replace("\x00", "")  # what a command line (or the environment) can carry
LONG = "long:" + "x" * 5000
# Identifiers in PostgreSQL: at most 63 bytes, no NUL.
DBH = "[/oops] [b]bold[/b] \x1b[2J\u202e"
TOKEN = "am-token-123456"

MARK = "[/oops]"
PUBLIC = "[/oops] x [b]bold[/b] ; rm -rf / $(touch pwned) 'q' \"q\""
SHOWN = (MARK, "[b]bold[/b]", "\\x1b[2J")  # what must be on screen, as typed
RAW = ("\x1b", "\x07", "\x00", "\u202e", "\x9b", "\r")  # what must never be
_SGR = re.compile(r"\x1b\[[0-9;]*m")

ROOT = typer.main.get_command(app)
NOT_RUN_HERE = {
    ("serve",): "runs until stopped: test_serve_logs_hostile_alert_text_escaped below",
    ("demo",): "builds its own cluster and sandbox and prints only what it made "
    "(tests/test_demo.py runs it); its lines use the same helpers",
    ("sandbox", "run"): "serves until stopped and prints only its own host and port "
    "(tests/sandbox/test_run.py)",
}


def printing_commands() -> set[tuple[str, ...]]:
    """Every command of the tree, and every group that prints when called bare."""
    found: set[tuple[str, ...]] = set()

    def walk(group: Any, prefix: tuple[str, ...]) -> None:
        for name, command in group.commands.items():
            path = (*prefix, name)
            if hasattr(command, "commands"):
                if command.invoke_without_command:
                    found.add(path)
                walk(command, path)
            else:
                found.add(path)

    walk(ROOT, ())
    return found


def command_path(args: tuple[str, ...]) -> tuple[str, ...]:
    group, path = ROOT, []
    for arg in args:
        commands = getattr(group, "commands", None)
        if not commands or arg not in commands:
            break
        group = commands[arg]
        path.append(arg)
    return tuple(path)


def assert_no_raw_controls(output: str) -> None:
    text = _SGR.sub("", output)
    for raw in RAW:
        assert raw not in text, f"{raw!r} reached the terminal raw:\n{text!r}"


class Sweep:
    """The real CLI over one config and a clock the test holds; remembers what it ran."""

    def __init__(self, config: Path, clock: FrozenClock) -> None:
        self.config, self.clock = config, clock
        self.ran: set[tuple[str, ...]] = set()

    def _invoke(self, args: tuple[str, ...], code: int) -> Result:
        result = CliRunner().invoke(
            app, ["--config", str(self.config), *args], obj=AppContext(clock=self.clock)
        )
        self.ran.add(command_path(args))
        assert result.exit_code == code, (args, repr(result.exception), result.output)
        return result

    def run(self, *args: str, code: int = 0, shows: tuple[str, ...] = SHOWN) -> str:
        """Run a command; its output must hold no raw control and show `shows` as text."""
        output = self._invoke(args, code).output
        assert_no_raw_controls(output)
        for text in shows:
            assert text in output, (args, text, output)
        return output

    def json(self, *args: str, code: int = 0) -> Any:
        """Run a command with --json: stdout must stay one valid, escaped document."""
        stdout = self._invoke((*args, "--json"), code).stdout
        assert_no_raw_controls(stdout)
        return json.loads(stdout)


# --- what gets planted --------------------------------------------------------------------


def _config(root: Path, database_url: str, slack_url: str) -> Path:
    root.mkdir()
    failing = f"printf '%s' '{ARG}'; printf ' nul\\000 end'; exit 1"
    data = {
        "store": {"url": f"sqlite:///{root / 'opsbook.db'}"},
        "database": {"url": database_url},
        "alertmanager": {"token": TOKEN},
        "runbooks": {"paths": ["books"]},
        # P0 and P1 page Slack: the hostile incidents reach the outbox and its commands.
        "notify": {"channels": [{"name": "slack", "kind": "slack", "webhook_url": slack_url}]},
        "severities": {
            "P3": {
                "label": HOSTILE,
                "action": "backlog",
                "response_sla": "24h",
                "examples": [HOSTILE, "second example"],
            }
        },
        "checks": [
            {"name": HOSTILE, "kind": "command", "command": ["sh", "-c", failing]},
        ],
        # Public words allow no control character; markup and shell text are data.
        "status": {"components": [{"name": PUBLIC, "checks": [HOSTILE]}]},
        # Names are data: all but NUL (no store keeps it) are taken as written.
        "oncall": {
            "people": [{"name": ARG}],
            "schedules": [
                {
                    "name": ARG,
                    "timezone": "Europe/Berlin",
                    "layers": [{"name": ARG, "users": [ARG], "rotation": "weekly"}],
                }
            ],
        },
        "escalation": {
            "policies": [
                {
                    "name": ARG,
                    "levels": [{"targets": [{"schedule": ARG}, {"person": ARG}]}],
                }
            ]
        },
        # Routine names are plain words; what the runbook and the audit commands print is
        # data (arguments, never shell text).
        "maintenance": {
            "routines": {"hostile": {"runbook": "hostile-routine", "schedule": "daily 09:00"}},
            "audit_commands": [["sh", "-c", 'printf "%s" "$1"; exit 1', "audit", ARG]],
            "keys": {"stripe": {}},
        },
    }
    path = root / "opsbook.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=False))
    return path


def _runbooks(folder: Path) -> None:
    folder.mkdir()
    book = {
        "name": "hostile-book",
        "title": HOSTILE,
        "description": f"first line {HOSTILE}\nsecond line",
        "severity": ["P1"],
        "components": [HOSTILE],
        "symptoms": [HOSTILE],
        "parameters": {"who": {"type": "str", "default": ARG, "description": HOSTILE}},
        "steps": [
            {"id": "say", "title": HOSTILE, "run": "printf '%s' {{ params.who }}", "note": HOSTILE},
            {
                "id": "complain",
                "title": HOSTILE,
                "run": "printf '%s' {{ params.who }} >&2; exit 3",
                "expect": "output.exit_code == 0",
                "on_fail": "continue",
            },
            {"id": "tell", "title": HOSTILE, "notify": {"channel": "slack", "message": HOSTILE}},
            {"id": "by_hand", "title": HOSTILE, "manual": HOSTILE},
        ],
    }
    bad = {"name": "bad-book", "title": HOSTILE, "steps": [{"id": "x", "title": "x", DBH: 1}]}
    (folder / "hostile-book.yaml").write_text(yaml.safe_dump(book, allow_unicode=False))
    (folder / "bad-book.yaml").write_text(yaml.safe_dump(bad, allow_unicode=False))


def _ident(suffix: str) -> sql.Identifier:
    return sql.Identifier(f"{DBH} {suffix}")


def _plant_database(url: str, role: str) -> None:
    """A table, its sequence, two indexes (one a duplicate, both unused), a materialized
    view and an applied migration, every name hostile."""
    table = _ident("t")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "create table {} (id bigserial primary key, note text, "
                "created timestamptz not null default now() - interval '2 years')"
            ).format(table)
        )
        conn.execute(sql.SQL("insert into {} (note) values (%s), (%s)").format(table), (DBH, DBH))
        for index in ("i1", "i2"):
            conn.execute(sql.SQL("create index {} on {} (note)").format(_ident(index), table))
        conn.execute(
            sql.SQL("create materialized view {} as select id from {}").format(_ident("v"), table)
        )
        conn.execute(sql.SQL("grant select on {} to {}").format(table, sql.Identifier(role)))
        conn.execute(
            "insert into supabase_migrations.schema_migrations (version, name, statements)"
            " values ('20990101000000', %s, '{}')",
            (DBH,),
        )


def _migrations(root: Path) -> tuple[Path, Path]:
    good, bad = root / "good", root / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "20990202000000_hostile_comment.sql").write_text(f"select 1; -- {DBH}\n")
    (bad / "2099_[oops] \x1b[2J\u202e.sql").write_text("select 1;\n")  # a name has no "/"
    return good, bad


@contextmanager
def _sessions(url: str, role: str) -> Iterator[int]:
    """An idle session of the app's role whose application name and last query are hostile,
    and a query with a hostile comment waiting on a lock; yields the idle one's pid."""
    as_role = url.replace("postgresql://postgres@", f"postgresql://{role}@")
    idle = psycopg.connect(as_role, autocommit=True, application_name=DBH)
    idle.execute(sql.SQL("select 1 /* {} */").format(sql.SQL(DBH)))
    locker = psycopg.connect(url, application_name=DBH)
    lock = sql.SQL("lock table {} in access exclusive mode /* {} */")
    locker.execute(lock.format(_ident("t"), sql.SQL(DBH)))
    waiter = psycopg.connect(url, autocommit=True, application_name=DBH)
    query = sql.SQL("select /* {} */ count(*) from {}").format(sql.SQL(DBH), _ident("t"))
    thread = threading.Thread(target=waiter.execute, args=(query,), daemon=True)
    thread.start()
    probe = psycopg.connect(url, autocommit=True)
    waiting = "select 1 from pg_stat_activity where pid = %s and wait_event_type = 'Lock'"
    wait_for(lambda: probe.execute(waiting, (waiter.info.backend_pid,)).fetchone() is not None)
    try:
        yield idle.info.backend_pid
    finally:
        locker.rollback()
        thread.join(timeout=30)
        for conn in (probe, locker, waiter, idle):
            conn.close()


def _peers(config_path: Path, clock: FrozenClock) -> None:
    """The failing check's output stored as serve stores it, then an Alertmanager group
    posted to the real receiver: both open incidents."""
    config = load_config(config_path)
    store = open_store(config.store.url.reveal(), base_dir=config.base_dir)
    try:
        results = asyncio.run(run_checks(config, config.checks, clock=clock))
        service.process_results(store, config, results, clock=clock)
        server = BackgroundServer(create_app(config, store, clock=clock, schedule=False)).start()
        try:
            posted = httpx.post(
                f"{server.url}/api/v1/alertmanager",
                headers={"Authorization": f"Bearer {TOKEN}"},
                json=am_payload(),
            )
        finally:
            server.stop()
    finally:
        store.close()
    assert posted.status_code == 200, posted.text


def am_payload() -> dict[str, Any]:
    labels = {"alertname": HOSTILE, "severity": "critical", "component": HOSTILE, "instance": LONG}
    return {
        "version": "4",
        "groupKey": HOSTILE,
        "status": "firing",
        "groupLabels": {"alertname": HOSTILE},
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": HOSTILE, "runbook": HOSTILE},
                "startsAt": "2026-03-02T09:00:00Z",
            }
        ],
    }


# --- the sweep ----------------------------------------------------------------------------


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.stop()


@pytest.fixture
def sweep(
    tmp_path: Path,
    sandbox: RunningSandbox,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    slack: FakeSlack,
) -> Sweep:
    monkeypatch.setenv("OPSBOOK_ACTOR", ARG)
    monkeypatch.setenv("COLUMNS", "400")  # a wide terminal: table cells shown whole
    monkeypatch.chdir(tmp_path)  # where `$(touch pwned)` would land if a shell ran it
    config = _config(tmp_path / "cfg", sandbox.database_url, slack.webhook_url)
    _runbooks(tmp_path / "cfg" / "books")
    return Sweep(config, clock)


def test_every_printing_command_shows_hostile_text_as_text(
    sweep: Sweep, sandbox: RunningSandbox, app_role: str, tmp_path: Path, slack: FakeSlack
) -> None:
    _incidents(sweep, tmp_path)
    _notify(sweep, slack)
    _peers(sweep.config, sweep.clock)
    _watching(sweep)
    _runbook_commands(sweep)
    _plant_database(sandbox.database_url, app_role)
    _database(sweep, sandbox.database_url, app_role, tmp_path)
    _own_state(sweep, tmp_path)
    _oncall(sweep)
    _maintenance(sweep)
    _routines(sweep)
    _sandbox(sweep, sandbox)
    _backups_and_deploys(sweep)
    assert not (tmp_path / "pwned").exists()
    assert printing_commands() - sweep.ran - set(NOT_RUN_HERE) == set()


def _incidents(sweep: Sweep, tmp_path: Path) -> None:
    run = sweep.run
    run("incident", "severities")
    run(
        "incident", "open", "--sev", "P1", "--title", ARG, "--component", ARG,
        "--symptom", ARG, "--symptom", LONG, "--message", ARG, "--public",
    )  # fmt: skip
    run("incident", "ack", "1", "--message", ARG)
    run("incident", "update", "1", "--status", "identified", "--message", ARG, "--public")
    run("incident", "note", "1", LONG)
    run("incident", "note", "1", ARG)
    run("incident", "severity", "1", "P0", "--reason", ARG)
    run("incident", "actions", "add", "1", ARG, "--owner", ARG, "--due", "7d")
    run("incident", "actions")
    run("incident", "actions", "list", "1", "--open")
    run("incident", "update", "1", "--status", "monitoring", "--message", ARG)
    sweep.clock.advance(dt.timedelta(minutes=16))
    run("incident", "resolve", "1", "--message", ARG)
    run("incident", "actions", "done", "1", "2")
    run("incident", "postmortem", "1", "--root-cause", ARG, "--impact", ARG)
    out = tmp_path / "pm [bold]x\x1b[2J\u202e.md"
    run("incident", "postmortem", "1", "--out", str(out), shows=("pm [bold]x\\x1b[2J",))
    run("incident", "show", "1", "--all")
    run("incident", "show", ARG, code=2)
    run("incident", "notify-customers", ARG, "--dry-run", code=2, shows=(MARK,))
    run("incident", "open", "--sev", ARG, "--title", "x", code=2)
    shown = sweep.json("incident", "show", "1")
    assert shown["title"] == ARG and shown["opened_by"] == ARG
    assert LONG in [e["text"] for e in shown["timeline"]]


def _notify(sweep: Sweep, slack: FakeSlack) -> None:
    """A far side answering hostile text: the outbox keeps it and shows it escaped."""
    slack.answer_next(*[Reply(400, HOSTILE)] * 10)
    config = load_config(sweep.config)
    store = open_store(config.store.url.reveal(), base_dir=config.base_dir)
    try:
        asyncio.run(deliver_due(config, store, clock=sweep.clock, rng=random.Random(1)))
    finally:
        store.close()
    run = sweep.run
    run("notify", "outbox", "--dead")
    [dead, *_] = sweep.json("notify", "outbox", "--dead")
    assert dead["last_error"].startswith("400 [/oops] x [b]bold[/b]")
    assert "\\x1b[2J" in dead["last_error"]  # kept visible: no raw escape in the store
    run("notify", "test", "slack", code=1)
    run("notify", "test", ARG, code=2)
    run("notify", "retry", ARG, code=2, shows=(MARK,))
    run("notify", "retry", str(dead["id"]), shows=())


def _watching(sweep: Sweep) -> None:
    """The incidents the check and the Alertmanager group opened, status, history, check."""
    run = sweep.run
    listed = sweep.json("incident", "list")
    assert {i["title"].split(";")[0] for i in listed} >= {HOSTILE.split(";")[0]}
    run("incident", "list")
    for incident in listed:
        run("incident", "show", str(incident["id"]))
    run("incident", "stats", shows=())
    run("status")
    run("status", "--all")
    assert sweep.json("status")["alerts"][0]["summary"]
    run("history", "--since", "7d")
    run("history", "--metric", ARG, code=2)
    run("check", code=1)
    assert sweep.json("check", code=1)[0]["name"] == HOSTILE


def _runbook_commands(sweep: Sweep) -> None:
    run = sweep.run
    run("runbook", "list")
    run("runbook", "show", "hostile-book", shows=(*SHOWN, "\\u202eevil cr\\r nul c1"))
    run("runbook", "show", "bad-book", code=2, shows=(MARK,))
    run("runbook", "run", "hostile-book", "--dry-run", shows=(*SHOWN, "evil cr\\r nul c1"))
    run("runbook", "run", "hostile-book", "--incident", "1", "--yes", code=1)  # a step failed
    run("runbook", "runs")
    # The book has a step that fails and continues: once nothing waits, the run is failed.
    run("runbook", "resume", "1", "--done", "by_hand", code=1)
    run("runbook", "suggest", "--incident", "1")
    run("runbook", "show", ARG, code=2)
    assert sweep.json("runbook", "show", "hostile-book")["runbook"]["title"] == HOSTILE


def _database(sweep: Sweep, url: str, role: str, tmp_path: Path) -> None:
    run = sweep.run
    good, bad = _migrations(tmp_path)
    with _sessions(url, role) as idle_pid:
        run("db", "status")
        run("db", "connections", "--by", "application", shows=(MARK,))
        run("db", "slow")
        run("db", "blocked")
        run("db", "idle", "--older-than", "0s")
        run("db", "kill", str(idle_pid), "--yes")
    run("db", "sizes", "--limit", "1000")
    sized = sweep.json("db", "sizes", "--limit", "1000")["relations"]
    assert f"{DBH} t" in {r["name"] for r in sized}
    run("db", "indexes", code=1)
    run("db", "sequences")
    run("db", "views")
    run("db", "views", "refresh", f"{DBH} v")
    run("db", "views", "refresh", ARG, code=2)
    run("db", "migrations", "status", "--dir", str(good), code=1)
    run("db", "migrations", "apply", "--dir", str(good), "--no-backup", "--yes", shows=())
    run("db", "migrations", "status", "--dir", str(bad), code=2, shows=("[oops] \\x1b[2J",))
    archive = ("--table", f"{DBH} t", "--to", f"{DBH} a", "--column", "created")
    run("db", "archive", *archive, "--dry-run")
    run("db", "archive", *archive, "--yes")
    run("db", "archive", "--table", ARG, code=2)


def _own_state(sweep: Sweep, tmp_path: Path) -> None:
    run = sweep.run
    run("audit", "list")
    run("audit", "verify", shows=())
    run("store", "status", shows=())
    run("store", "upgrade", shows=())
    run("config", "check", "--show", shows=(MARK, "\\e[2J"))  # YAML writes ESC as \e
    run("status", "--config", ARG, code=2, shows=("given twice", MARK))  # a second file
    where = tmp_path / "init [bold]x\x1b[2J\u202e"
    run("init", "--dir", str(where), shows=("init [bold]x\\x1b[2J",))
    run("init", "--profile", ARG, code=2)
    assert sweep.json("audit", "list")


def _oncall(sweep: Sweep) -> None:
    run = sweep.run
    run("oncall", "now")
    run("oncall", "schedule", "--weeks", "2")
    run("oncall", "override", "--who", ARG, "--to", "+1h")
    run("oncall", "overrides")
    run("oncall", "override", "--remove", "1")
    run("oncall", "override", "--who", HOSTILE, "--to", "+1h", code=2)
    run("oncall", "override", "--who", ARG, "--from", ARG, "--to", "+1h", code=2, shows=(MARK,))
    run("oncall", "now", "--schedule", HOSTILE, code=2)
    run("oncall", "escalation")
    assert sweep.json("oncall", "escalation")["policies"][0]["name"] == ARG
    assert sweep.json("oncall", "now")[0]["on_call"]["name"] == ARG
    run("oncall", "check", code=1)  # the fake Slack answers 400 with hostile words
    # Someone the rota does not know: refused, the name and the known people shown as text.
    run("oncall", "confirm", "1", "--by", f"Mallory {ARG}", code=2, shows=("'Mallory [/oops]",))
    run("oncall", "confirm", "1", "--by", ARG)
    run("oncall", "confirm", "1", "--by", HOSTILE, code=2)
    run("oncall", "checks")
    assert sweep.json("oncall", "checks")[0]["confirmed_by"] == ARG


def _routines(sweep: Sweep) -> None:
    book = {
        "name": "hostile-routine",
        "title": HOSTILE,
        "steps": [
            {
                "id": "audit",
                "title": HOSTILE,
                "uses": "maintenance.dependency_audit",
                "on_fail": "continue",
            },
            {"id": "by_hand", "title": HOSTILE, "manual": HOSTILE},
        ],
    }
    books = sweep.config.parent / "books"
    (books / "hostile-routine.yaml").write_text(yaml.safe_dump(book, allow_unicode=False))
    run = sweep.run
    run("maintenance", "run", "hostile", shows=(), code=1)  # the audit found something
    run("maintenance", "routines", shows=("hostile-routine",))
    run("maintenance", "due", shows=SHOWN)  # the manual step's words, as text
    run("maintenance", "history", shows=(MARK, "[b]bold[/b]"))  # the audit's output, as text
    said = sweep.json("maintenance", "due")["checklists"][0]["steps"][0]["instruction"]
    assert said.startswith(MARK) and said.endswith("$(touch pwned)")
    run("maintenance", "run", ARG, code=2, shows=(MARK,))
    run("maintenance", "history", ARG, code=2, shows=(MARK,))
    run("maintenance", "rotated", ARG, code=2, shows=(MARK,))
    run("maintenance", "rotated", "stripe", "--on", ARG, code=2, shows=())
    run("maintenance", "rotated", "stripe", shows=())


def _maintenance(sweep: Sweep) -> None:
    run = sweep.run
    plain = (MARK, "[b]bold[/b]")
    window = ("--from", "now", "--to", "+1h")
    run("maintenance", "schedule", "--title", PUBLIC, "--components", PUBLIC, *window, shows=plain)
    run("maintenance", "list", shows=plain)
    run("maintenance", "complete", "1", shows=plain)
    later = ("--from", "2026-03-03T10:00Z", "--to", "2026-03-03T11:00Z")
    run("maintenance", "schedule", "--title", PUBLIC, "--components", PUBLIC, *later, shows=plain)
    run("maintenance", "start", "2", shows=plain)
    run("maintenance", "schedule", "--title", "b", "--components", PUBLIC, *later, shows=())
    run("maintenance", "cancel", "3", shows=())
    # Control characters never reach a customer: refused, and shown as text in the refusal.
    run(
        "maintenance", "schedule", "--title", ARG, "--components", PUBLIC, *window, code=2, shows=()
    )
    run(
        "maintenance",
        "schedule",
        "--title",
        "t",
        "--components",
        ARG,
        *window,
        code=2,
        shows=(MARK,),
    )
    run("maintenance", "start", ARG, code=2, shows=())
    # The public page as files: its words are the customers' (the title shown as typed).
    site = sweep.config.parent / "site"
    run("status", "export", str(site), shows=())
    assert PUBLIC in (site / "index.html").read_text().replace("&#34;", '"').replace("&#39;", "'")
    run("status", "export", str(site / ARG), code=2, shows=())


def _sandbox(sweep: Sweep, sandbox: RunningSandbox) -> None:
    run = sweep.run
    where = ("--url", sandbox.url, "--token", sandbox.settings.admin_token)
    # A commit is hex: the hostile value is refused, and shown as text in the refusal.
    run("sandbox", "fault", "wrong-version", ARG, *where, code=2, shows=("[/oops] x",))
    run("sandbox", "fault", "wrong-version", "deadbeef", *where, shows=())
    run("sandbox", "fault", *where, shows=("deadbeef",))
    run("sandbox", "fault", "--clear", *where, shows=())
    run("sandbox", "fault", ARG, *where, code=2)
    run("sandbox", "schema", "--database-url", sandbox.database_url, shows=())
    run("sandbox", "seed", "--database-url", sandbox.database_url, "--attempts", "5", shows=())
    run("sandbox", "deploy", "--commit", ARG, *where, code=2, shows=())
    run("sandbox", "deploy", "--commit", "deadbeef", *where, shows=())


def _backups_and_deploys(sweep: Sweep) -> None:
    """The target database holds the planted hostile tables: a backup names them as data."""
    run = sweep.run
    run("backup", "create", "--label", ARG, code=2, shows=())
    run("backup", "create", "--label", PUBLIC, shows=())
    run("backup", "list", shows=())
    [backup] = sweep.json("backup", "list")
    assert backup["label"] == PUBLIC
    run("backup", "prune", shows=())
    run("backup", "verify", ARG, code=2, shows=())
    run("backup", "verify", str(backup["id"]), shows=())
    database = load_config(sweep.config).database.url
    assert database is not None
    # The planted tables are in the target: the plan names them, escaped, and refuses.
    run("backup", "restore", str(backup["id"]), "--target", database.reveal(), code=1, shows=())
    run("backup", "restore", str(backup["id"]), "--target", ARG, code=2, shows=())
    elsewhere = "postgresql://x@127.0.0.1:1/x"
    run("backup", "restore", "--from-sql", ARG, "--target", elsewhere, code=2, shows=())
    _files_backup(sweep)
    run("drill", "--backup", ARG, code=2, shows=())
    run("drill", "--target", ARG, code=2, shows=())
    # A drill of the planted tables; the app command is words, run by no shell, and fails.
    run("drill", "--app-cmd", ARG, code=1, shows=(MARK,))
    [drill] = sweep.json("drill", "list")
    assert drill["verdict"] == "failed"
    run("deploy", "verify", "--commit", ARG, code=2, shows=())
    run("deploy", "list", shows=())
    run("deploy", "check", "--commit", ARG, code=2, shows=())
    run("deploy", "check", "--commit", "deadbeef", "--yes-flags", code=1, shows=())
    # No provider configured: refused in one line naming the key; ARG is refused as a
    # reason before that (control characters), and never echoed raw.
    run("deploy", "rollback", "--reason", ARG, code=2, shows=())
    run("deploy", "rollback", "--to", ARG, "--reason", "[/x]", code=2, shows=())


def _files_backup(sweep: Sweep) -> None:
    """A file and a link named with the hostile text: backed up, restored identical, and
    every name on screen escaped (the link is skipped with a warning naming it)."""
    run = sweep.run
    source, dest = sweep.config.parent / "recordings", sweep.config.parent / "restored"
    name = ARG.replace("/", "|")
    source.mkdir()
    (source / name).write_bytes(HOSTILE.encode())
    (source / "[").mkdir()  # the link's path is `[/oops] ...`
    (source / "[" / f"oops] link {name}").symlink_to("/etc")
    run("backup", "files", str(source), "--label", PUBLIC, shows=(MARK, "\\x1b[2J"))
    run("backup", "files", ARG, code=2, shows=(MARK,))
    made = sweep.json("backup", "list")[0]["id"]
    run("backup", "verify", str(made), shows=())
    run("backup", "restore-files", str(made), str(dest), "--yes", shows=())
    run("backup", "restore-files", ARG, str(dest), code=2, shows=())
    assert (dest / name).read_bytes() == HOSTILE.encode()


# --- serve's log ----------------------------------------------------------------------------


@pytest.mark.slow
def test_serve_logs_hostile_alert_text_escaped(tmp_path: Path) -> None:
    """A peer's alert text is one escaped line on serve's output: it can neither clear the
    terminal nor pass for a line of its own."""
    forged = HOSTILE + "\n2026-01-01T00:00:00Z INFO RESOLVED everything is fine"
    config = tmp_path / "opsbook.yaml"
    config.write_text(
        f"store:\n  url: sqlite:///{tmp_path / 'opsbook.db'}\nalertmanager:\n  token: {TOKEN}\n"
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "opsbook", "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OPSBOOK_ACTOR": "serve"},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{url}/healthz"), timeout=30)
        payload = am_payload()
        payload["alerts"][0]["annotations"]["summary"] = forged
        posted = httpx.post(
            f"{url}/api/v1/alertmanager", headers={"Authorization": f"Bearer {TOKEN}"}, json=payload
        )
        assert posted.status_code == 200, posted.text
    finally:
        server.send_signal(signal.SIGTERM)
        raw, _ = server.communicate(timeout=30)
    output = raw.decode()
    assert server.returncode == 0, output
    assert_no_raw_controls(output)
    [firing] = [line for line in output.splitlines() if " INFO FIRING " in line]
    assert (
        "[/oops] x [b]bold[/b] [bold red]boom[/]" in firing
        and "\\x1b[2J \\x1b]0;pwn\\x07" in firing
    )
    assert "nul\\x00 c1\\x9b" in firing
    assert "\\n2026-01-01T00:00:00Z INFO RESOLVED everything is fine" in firing
    assert not any(line.startswith("2026-01-01T00:00:00Z") for line in output.splitlines())


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False
