"""Every `--json` opsbook prints is RFC 8259 JSON, read by a parser that refuses NaN and
Infinity, as jq and JSON.parse do: the commands are walked from the CLI itself, so a new
`--json` command is walked too (it must be given arguments below), and a NaN measured by
a check flows through the store and the web app as null."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.jsonout import dumps, finite
from opsbook.postgres.cluster import free_port
from opsbook.serving import BackgroundServer
from opsbook.store import Store, chain, open_store
from opsbook.store.audit import record
from opsbook.store.models import AuditEntry
from opsbook.watch.runner import run_checks
from opsbook.watch.service import process_results
from opsbook.web.app import create_app
from tests.watch.fakes import FakePrometheus
from tests.watch.test_prometheus import strict_loads

NAN, INF = math.nan, math.inf

# The arguments each `--json` command is walked with ({db} is a database URL, {dead} a
# port nobody listens on). Incident 1 exists when the incident commands run.
ARGS: dict[str, list[str]] = {
    "config check": [],
    "check": [],
    "status": [],
    "status export": ["{tmp}/site"],
    "history": [],
    "incident severities": [],
    "incident open": ["--sev", "P2", "--title", 'queue stuck [/x] $(rm -rf /); "quoted"'],
    "incident list": [],
    "incident show": ["1"],
    "incident ack": ["1"],
    "incident update": ["1", "--message", "NaN is not a number"],
    "incident notify-customers": ["1", "--dry-run"],
    "incident note": ["1", "\x1b[31mred\x1b[0m"],
    "incident severity": ["1", "P1", "worse"],
    "incident actions": ["1"],
    "incident actions add": ["1", "add a NaN guard"],
    "incident actions done": ["1", "1"],
    "incident actions list": [],
    "incident stats": [],
    "incident resolve": ["1"],
    "incident postmortem": ["1"],
    "notify test": ["no-such-channel"],
    "notify outbox": [],
    "notify retry": ["1"],
    "runbook list": [],
    "runbook show": ["p0-outage"],
    "runbook run": ["p0-outage", "--dry-run"],
    "runbook runs": [],
    "runbook resume": ["1"],
    "runbook suggest": ["--incident", "1"],
    "db views": [],
    "db status": [],
    "db connections": [],
    "db idle": [],
    "db kill": [],
    "db slow": [],
    "db blocked": [],
    "db sizes": [],
    "db indexes": [],
    "db sequences": [],
    "db archive": ["--dry-run"],
    "db views refresh": ["--dry-run"],
    "db migrations status": ["--dir", "{tmp}/migrations"],
    "db migrations apply": ["--dir", "{tmp}/migrations"],
    "store status": [],
    "audit list": [],
    "audit verify": [],
    "sandbox fault": ["--clear", "--url", "http://127.0.0.1:{dead}"],
    "sandbox deploy": ["--commit", "abcd", "--url", "http://127.0.0.1:{dead}"],
    "deploy verify": ["--commit", "abcd", "--url", "http://127.0.0.1:{dead}"],
    "deploy list": [],
    "deploy check": ["--commit", "abcd", "--yes-flags"],
    "deploy rollback": ["--reason", 'Zoë "[/x]"'],
    "oncall now": [],
    "oncall schedule": ["--weeks", "1"],
    "oncall override": ["--who", 'Zoë "[/x]" \x1b[31m', "--to", "+1h"],
    "oncall overrides": [],
    "oncall escalation": [],
    "oncall check": [],
    "oncall confirm": ["1", "--by", 'Zoë "[/x]" \x1b[31m'],
    "oncall checks": [],
    "maintenance schedule": [
        "--title",
        "x",
        "--components",
        "Web app",
        "--to",
        "+1h",
        "--from",
        "now",
    ],
    "maintenance list": [],
    "maintenance start": ["1"],
    "maintenance complete": ["1"],
    "maintenance cancel": ["1"],
    "maintenance routines": [],
    "maintenance due": [],
    "maintenance run": ["no-such-routine"],
    "maintenance history": [],
    "backup create": ["--label", 'nightly "[/x]" $(id)', "--checksums"],
    "backup list": [],
    "backup prune": ["--keep-days", "0", "--keep-min", "0"],
    "backup verify": ["1"],
    # The configured database: not empty, so the plan is printed and refused.
    "backup restore": ["1", "--target", "{db}"],
    "backup files": ["{tmp}/migrations"],
    # Backup 2 is the files backup just made: a dry run prints its plan.
    "backup restore-files": ["2", "{tmp}/restored"],
    "drill": ["--backup", "1"],
    "drill list": [],
}
# The commands that must print a document here (the others may refuse their arguments).
MUST_PRINT = {
    "config check",
    "check",
    "status",
    "status export",
    "history",
    "incident open",
    "incident list",
    "incident show",
    "incident note",
    "incident stats",
    "notify outbox",
    "runbook list",
    "db status",
    "store status",
    "audit list",
    "audit verify",
    "oncall now",
    "oncall schedule",
    "oncall override",
    "oncall overrides",
    "oncall escalation",
    "oncall checks",
    "maintenance list",
    "maintenance routines",
    "maintenance due",
    "maintenance history",
    "backup create",
    "backup list",
    "backup prune",
    "backup verify",
    "backup restore",
    "backup files",
    "backup restore-files",
    "drill",
    "drill list",
    "deploy list",
    "deploy check",
}


def json_commands() -> list[str]:
    """Every command of the CLI that takes --json, as `group sub name`."""
    found: list[str] = []

    def walk(command: Any, path: list[str]) -> None:  # typer's own click Command
        subcommands = getattr(command, "commands", None)
        for name, sub in (subcommands or {}).items():
            walk(sub, [*path, name])
        # A group that prints when called bare (`opsbook status`) may take --json too.
        if any("--json" in getattr(p, "opts", []) for p in command.params):
            found.append(" ".join(path))

    walk(typer.main.get_command(app), [])
    return found


@pytest.fixture
def nan_prometheus() -> Iterator[str]:
    fake = FakePrometheus()
    fake.data["0/0"] = {"resultType": "scalar", "result": [1772443800.5, "NaN"]}
    server = BackgroundServer(fake.app).start()
    try:
        yield server.url
    finally:
        server.stop()


def test_every_json_command_is_walked() -> None:
    assert sorted(json_commands()) == sorted(ARGS)


def test_every_json_output_is_strict_json(
    tmp_path: Path, nan_prometheus: str, sandbox_db: str, clock: FrozenClock
) -> None:
    (tmp_path / "migrations").mkdir()
    store_url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    settings = {
        "store": {"url": store_url},
        "database": {"url": sandbox_db},
        "checks": [
            {
                "name": "ratio",
                "kind": "prometheus",
                "url": nan_prometheus,
                "query": "0/0",
                "metric": "ratio",
            },
        ],
        "alerts": {"rules": [{"name": "ratio", "metric": "ratio", "crit": 0.5}]},
        "oncall": {
            "people": [{"name": 'Zoë "[/x]" \x1b[31m'}],
            "schedules": [
                {
                    "name": "primary",
                    "timezone": "Europe/Berlin",
                    "layers": [{"users": ['Zoë "[/x]" \x1b[31m'], "rotation": "weekly"}],
                }
            ],
        },
        "escalation": {
            "policies": [
                {"name": "default", "levels": [{"targets": [{"person": 'Zoë "[/x]" \x1b[31m'}]}]}
            ]
        },
    }
    config_path = tmp_path / "opsbook.yaml"
    config_path.write_text(json.dumps(settings))
    # What `opsbook serve` would have stored after running the NaN check once.
    config = Config.model_validate(settings)
    store = open_store(store_url)
    results = asyncio.run(run_checks(config, config.checks, clock=clock))
    process_results(store, config, results, clock=clock)
    measured(store, clock, {"v": NAN, "w": [INF]})
    runner = CliRunner()
    printed = set()
    for command in json_commands():
        args = [a.format(tmp=tmp_path, dead=free_port(), db=sandbox_db) for a in ARGS[command]]
        result = runner.invoke(
            app, ["--config", str(config_path), *command.split(), *args, "--json"], input="n\n"
        )
        if result.stdout.strip():
            try:
                strict_loads(result.stdout)
            except ValueError as exc:
                raise AssertionError(f"{command} --json: {exc}\n{result.stdout}") from None
            printed.add(command)
    assert printed >= MUST_PRINT, MUST_PRINT - printed


def measured(store: Store, clock: FrozenClock, details: dict[str, Any]) -> None:
    """An audit entry whose details hold what a check measured."""
    with store.session() as session:
        record(
            session,
            actor="t",
            action="measure",
            target="x",
            outcome="ok",
            details=details,
            clock=clock,
        )


def test_audit_details_with_nan_are_stored_as_null_and_the_chain_holds(
    store: Store, clock: FrozenClock
) -> None:
    # PostgreSQL's json type refused the NaN outright (the whole write failed); SQLite
    # kept a `NaN` no strict reader could parse. Both now keep null, and the seal agrees.
    measured(store, clock, {"v": NAN, "w": [INF, 1.5]})
    with store.session() as session:
        [details] = session.scalars(select(AuditEntry.details)).all()
    assert details == {"v": None, "w": [None, 1.5]}
    assert chain.verify(store).intact


def test_web_responses_write_nan_as_null(tmp_path: Path, clock: FrozenClock) -> None:
    config = Config.model_validate({})
    web = create_app(config, open_store(f"sqlite:///{tmp_path / 'o.db'}"), clock=clock)

    @web.get("/_nan")
    def nan() -> dict[str, Any]:
        return {"ratio": NAN, "ceiling": [INF, -INF]}

    with TestClient(web) as client:
        answer = client.get("/_nan")
    assert answer.status_code == 200
    assert strict_loads(answer.text) == {"ratio": None, "ceiling": [None, None]}


def test_dumps_is_json_dumps_without_nan_and_null_with_it() -> None:
    plain = {"a": [1, 2.5, "x", None, True], "b": {"c": -0.0}}
    assert dumps(plain) == json.dumps(plain)
    assert dumps(plain, sort_keys=True, separators=(",", ":")) == json.dumps(
        plain, sort_keys=True, separators=(",", ":")
    )
    assert dumps({"v": NAN, "w": (INF, -INF), INF: 1}) == '{"v": null, "w": [null, null], "inf": 1}'
    assert finite([1.0, [NAN]]) == [1.0, [None]]
    big = 10**400  # an int past the largest float is a JSON number, not infinity
    assert strict_loads(dumps({"n": big})) == {"n": big}


def test_dumps_still_refuses_a_circle() -> None:
    circle: list[Any] = []
    circle.append(circle)
    with pytest.raises(ValueError, match="Circular"):
        dumps(circle)
