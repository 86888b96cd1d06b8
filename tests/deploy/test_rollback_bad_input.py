"""Rollback's bad input and refusing providers: each one line, exit 1 or 2, and nothing
half-done (no record marked running, nothing served changed, nothing promoted)."""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from opsbook.clock import FrozenClock
from opsbook.deploy import locks
from opsbook.deploy.models import Deploy
from opsbook.sandbox.app import create_app
from opsbook.sandbox.client import faults_call
from opsbook.sandbox.settings import SandboxSettings
from opsbook.sandbox.vercel import FakeVercel
from opsbook.serving import BackgroundServer
from opsbook.store import open_store
from tests.conftest import RunningSandbox
from tests.deploy.conftest import NEW, Desk, write_config
from tests.deploy.test_rollback import (
    HEALTHLESS,
    TOKEN,
    command_yaml,
    configure,
    served,
    vercel_yaml,
)
from tests.notify.fakes import FakeSlack

ESC = "\x1b"


def broken_production(desk: Desk) -> None:
    """NEW verified, then a deploy whose health fails: what a rollback is for."""
    desk.deploy(NEW)
    assert desk.opsbook("deploy", "verify", "--commit", NEW, "--watch", "0").exit_code == 0
    desk.deploy(HEALTHLESS, broken="health")


def one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    return lines[0]


def nothing_changed(desk: Desk, records: int = 1) -> None:
    assert served(desk) == HEALTHLESS
    assert len(desk.records()) == records
    assert all(r.verdict != "rolling back" for r in desk.records())


def test_an_unknown_deployment_is_refused(desk: Desk, slack: FakeSlack) -> None:
    configure(desk, slack, vercel_yaml(desk))
    broken_production(desk)

    result = desk.opsbook("deploy", "rollback", "--to", "dpl_nosuch", "--yes")

    assert result.exit_code == 2, result.output
    said = one_line_error(result.output)
    assert "no READY production deployment 'dpl_nosuch' in Vercel project prj_sandbox" in said
    nothing_changed(desk)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_one_line_naming_the_token_never_printing_it(
    desk: Desk, slack: FakeSlack, status: int
) -> None:
    configure(desk, slack, vercel_yaml(desk))
    broken_production(desk)
    token = desk.sandbox.settings.admin_token
    faults_call(desk.sandbox.url, token, "PUT", "vercel-refuses", status)

    result = desk.opsbook("deploy", "rollback", "--reason", "health", "--yes")

    assert result.exit_code == 1, result.output
    said = one_line_error(result.output)
    assert f"Vercel refused deploy.vercel.token ({status})" in said
    assert TOKEN not in result.output
    nothing_changed(desk)


def test_a_wrong_token_is_refused_with_403(desk: Desk, slack: FakeSlack) -> None:
    configure(desk, slack, vercel_yaml(desk, token="not-the-token"))
    broken_production(desk)

    result = desk.opsbook("deploy", "rollback", "--yes")

    assert result.exit_code == 1
    assert "Vercel refused deploy.vercel.token (403)" in one_line_error(result.output)
    assert "not-the-token" not in result.output
    nothing_changed(desk)


def test_an_unreachable_vercel_api(desk: Desk, slack: FakeSlack) -> None:
    configure(desk, slack, vercel_yaml(desk, api_url="http://127.0.0.1:9"))
    broken_production(desk)

    result = desk.opsbook("deploy", "rollback", "--yes")

    assert result.exit_code == 1
    assert "cannot reach Vercel at http://127.0.0.1:9" in one_line_error(result.output)
    nothing_changed(desk)


def test_a_promote_that_never_serves_times_out_and_is_recorded_failed(
    desk: Desk, slack: FakeSlack
) -> None:
    configure(desk, slack, vercel_yaml(desk))
    broken_production(desk)
    token = desk.sandbox.settings.admin_token
    faults_call(desk.sandbox.url, token, "PUT", "vercel-stuck", "on")

    result = desk.opsbook("deploy", "rollback", "--reason", "health 500", "--yes")

    assert result.exit_code == 1, result.output
    assert "failed at promote" in result.output
    assert "still not serving 9b1d2e3f4a5b after 0:03:00" in result.output
    # Vercel accepted the promote, so the attempt is recorded, finished, as failed.
    rollback = desk.records()[0]
    assert (rollback.verdict, rollback.failed_stage) == ("failed", "promote")
    assert served(desk) == HEALTHLESS


def test_a_promote_answered_with_a_500_may_have_acted_and_is_recorded(
    desk: Desk, slack: FakeSlack
) -> None:
    configure(desk, slack, vercel_yaml(desk))
    broken_production(desk)
    token = desk.sandbox.settings.admin_token
    faults_call(desk.sandbox.url, token, "PUT", "vercel-promote-fails", "on")

    result = desk.opsbook("deploy", "rollback", "--reason", "health 500", "--yes")

    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert "answered 500" in said and "may have been promoted" in said, said
    assert "check with `opsbook deploy list`" in said and "nothing was changed" not in said
    rollback = desk.records()[0]
    assert (rollback.verdict, rollback.failed_stage) == ("failed", "promote")
    assert served(desk) == NEW  # Vercel did act


def test_a_command_that_runs_past_its_timeout_is_stopped(
    desk: Desk, slack: FakeSlack, tmp_path: Path
) -> None:
    script = tmp_path / "slow.py"
    script.write_text("import signal\nsignal.pause()\n")  # hangs until killed
    configure(desk, slack, command_yaml([sys.executable, str(script), "{deployment}"], "1s"))
    broken_production(desk)

    result = desk.opsbook("deploy", "rollback", "--yes")

    assert result.exit_code == 1, result.output
    assert "still ran after 1s (deploy.command.timeout); it was stopped" in result.output
    assert desk.records()[0].failed_stage == "promote"
    assert served(desk) == HEALTHLESS


def test_two_rollbacks_of_one_env_do_not_run_at_once(desk: Desk, slack: FakeSlack) -> None:
    configure(desk, slack, vercel_yaml(desk))
    broken_production(desk)
    store = open_store(desk.store_url)
    now = desk.sandbox.clock.now()
    held = Deploy(kind="rollback", commit=NEW, env="production", actor="ann", url="x",
                  stages=[], started_at=now, ended_at=now)  # fmt: skip
    try:
        locks.claim(store, held, lock_for=dt.timedelta(hours=1), clock=desk.sandbox.clock)
    finally:
        store.close()

    result = desk.opsbook("deploy", "rollback", "--yes")

    assert result.exit_code == 1, result.output
    assert "(by ann, since" in one_line_error(result.output)
    assert served(desk) == HEALTHLESS


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (f"{ESC}[31mred", "reason holds a control character ('\\x1b')"),
        ("a\x00b", "reason holds a control character ('\\x00')"),
        ("x" * 100_000, "reason is 100000 characters long; at most 1000"),
    ],
    ids=["ansi", "nul", "100k"],
)
def test_a_hostile_reason_is_refused_before_anything(
    desk: Desk, slack: FakeSlack, reason: str, expected: str
) -> None:
    configure(desk, slack, vercel_yaml(desk))
    broken_production(desk)

    result = desk.opsbook("deploy", "rollback", "--reason", reason, "--yes")

    assert result.exit_code == 2
    assert expected in one_line_error(result.output)
    assert ESC not in result.output
    nothing_changed(desk)


def test_markup_in_a_reason_is_shown_as_written(desk: Desk, slack: FakeSlack) -> None:
    configure(desk, slack, vercel_yaml(desk))
    broken_production(desk)

    result = desk.opsbook("deploy", "rollback", "--reason", "[/x][bold]boom")

    assert result.exit_code == 0, result.output
    assert "why: [/x][bold]boom" in result.output
    nothing_changed(desk)


@pytest.fixture
def vercel_desk(sandbox_db: str, clock: FrozenClock, tmp_path: Path) -> Iterator[VercelDesk]:
    """A desk whose sandbox's fake Vercel the test may hand hostile deployments."""
    settings = SandboxSettings(database_url=sandbox_db)
    app = create_app(settings, clock=clock, rng=random.Random(42))
    server = BackgroundServer(app).start()
    try:
        running = RunningSandbox(server.url, sandbox_db, settings, clock)
        store_url = f"sqlite:///{tmp_path / 'opsbook.db'}"
        config = write_config(tmp_path / "opsbook.yaml", store_url, running.url)
        yield VercelDesk(Desk(running, config, store_url), app.state.vercel)
    finally:
        server.stop()


@dataclass
class VercelDesk:
    desk: Desk
    fake: FakeVercel


def test_hostile_fields_in_vercel_deployments_are_data(
    vercel_desk: VercelDesk, slack: FakeSlack
) -> None:
    desk = vercel_desk.desk
    configure(desk, slack, vercel_yaml(desk))
    broken_production(desk)
    vercel_desk.fake.extra.extend(
        [
            {"uid": "; rm -rf /", "url": "evil", "state": "READY", "target": "production"},
            {"uid": "dpl_evil1", "url": f"[/x]{ESC}[31mred.vercel.app", "created": 10**30,
             "meta": {"githubCommitSha": "$(id)"}, "state": "READY", "target": "production"},
            {"uid": "dpl_evil2", "url": "a\x00b", "meta": [1], "created": -1},
            "not an object",
            {"uid": "x" * 10_000},
        ]
    )  # fmt: skip

    planned = desk.opsbook("deploy", "rollback", "--json")
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)["plan"]
    assert plan["target"]["commit"] == NEW  # the real previous one, not a hostile entry

    named = desk.opsbook("deploy", "rollback", "--to", "dpl_evil1", "--yes")
    assert named.exit_code == 2  # it names no commit ("$(id)" is none)
    assert "names no commit" in one_line_error(named.output)
    assert ESC not in named.output
    nothing_changed(desk)


@pytest.mark.parametrize("size", ["deep", "big"])
def test_a_deployment_list_too_deep_or_too_big_is_refused(
    vercel_desk: VercelDesk, slack: FakeSlack, size: str
) -> None:
    desk = vercel_desk.desk
    configure(desk, slack, vercel_yaml(desk))
    broken_production(desk)
    deep: object = "x"
    for _ in range(200):
        deep = {"x": deep}
    vercel_desk.fake.extra.append(deep if size == "deep" else {"uid": "x" * 400_000})

    result = desk.opsbook("deploy", "rollback", "--yes")

    assert result.exit_code == 1
    assert "not JSON within bounds" in one_line_error(result.output)
    nothing_changed(desk)
