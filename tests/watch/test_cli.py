from __future__ import annotations

import json
from pathlib import Path

import httpx
from typer.testing import CliRunner

from opsbook.cli import app
from tests.conftest import RunningSandbox


def _config(tmp_path: Path, sandbox: RunningSandbox) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text(f"""\
store:
  url: sqlite:///{tmp_path / "opsbook.db"}
checks:
  - name: health
    kind: http
    url: {sandbox.url}/api/health
    expect: {{json: ['status == "ok"']}}
  - name: webhook-clerk
    kind: webhook
    url: {sandbox.url}/api/webhooks/clerk
""")
    return path


def test_check_runs_all_then_named(tmp_path: Path, sandbox: RunningSandbox) -> None:
    config = _config(tmp_path, sandbox)
    runner = CliRunner()
    ok = runner.invoke(app, ["--config", str(config), "check", "--json"])
    assert ok.exit_code == 0, ok.output
    assert [(r["name"], r["state"]) for r in json.loads(ok.stdout)] == [
        ("health", "ok"),
        ("webhook-clerk", "ok"),
    ]
    httpx.put(
        f"{sandbox.url}/_sandbox/faults/health-500", json={"value": True}, headers=sandbox.admin
    )
    bad = runner.invoke(app, ["--config", str(config), "check", "health"])
    assert bad.exit_code == 1
    assert "down" in bad.output and "got 500" in bad.output


def test_unknown_check_name(tmp_path: Path, sandbox: RunningSandbox) -> None:
    result = CliRunner().invoke(
        app, ["--config", str(_config(tmp_path, sandbox)), "check", "helth"]
    )
    assert result.exit_code == 2
    assert "no check named 'helth' (did you mean 'health'?)" in result.output


def test_check_stores_what_it_saw_for_status(tmp_path: Path, sandbox: RunningSandbox) -> None:
    config = str(_config(tmp_path, sandbox))
    runner = CliRunner()
    assert "no check has run yet" in runner.invoke(app, ["--config", config, "status"]).output
    assert runner.invoke(app, ["--config", config, "check"]).exit_code == 0
    shown = json.loads(runner.invoke(app, ["--config", config, "status", "--json"]).stdout)
    assert [(c["name"], c["state"]) for c in shown["checks"]] == [
        ("health", "ok"),
        ("webhook-clerk", "ok"),
    ]
    assert shown["alerts"] == []
    # A failure is stored as serve stores one: the check's alert fires.
    httpx.put(
        f"{sandbox.url}/_sandbox/faults/health-500", json={"value": True}, headers=sandbox.admin
    )
    assert runner.invoke(app, ["--config", config, "check", "health"]).exit_code == 1
    shown = json.loads(runner.invoke(app, ["--config", config, "status", "--json"]).stdout)
    states = {c["name"]: c["state"] for c in shown["checks"]}
    assert states == {"health": "down", "webhook-clerk": "ok"}
    assert [(a["rule"], a["state"]) for a in shown["alerts"]] == [("check:health", "firing")]
