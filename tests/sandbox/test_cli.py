"""`opsbook sandbox ...` against a running sandbox and a real database."""

from __future__ import annotations

import json

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from opsbook.bodies import shown
from opsbook.cli import app
from opsbook.postgres.cluster import free_port
from opsbook.sandbox.faults import FAULTS
from tests.conftest import RunningSandbox, wait_for
from tests.sandbox.test_app import _sandbox_backends

runner = CliRunner()


def fault(sandbox: RunningSandbox, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["sandbox", "fault", *args, "--url", sandbox.url])
    return result.exit_code, result.output


def test_switch_a_fault_on_and_off(sandbox: RunningSandbox) -> None:
    said = "health-500 on: GET /api/health answers 500; watch: opsbook status\n"
    assert fault(sandbox, "health-500") == (0, said)
    assert httpx.get(f"{sandbox.url}/api/health").status_code == 500
    assert fault(sandbox, "health-500", "--off") == (0, "health-500 off; watch: opsbook status\n")
    assert httpx.get(f"{sandbox.url}/api/health").status_code == 200


def test_fault_with_a_value_and_the_listing(sandbox: RunningSandbox) -> None:
    code, said = fault(sandbox, "wrong-version", "cafef00d")
    assert (code, " ".join(said.split())) == (
        0,
        "wrong-version on (cafef00d): GET /api/version reports another commit; watch: opsbook"
        " status",
    )
    code, output = fault(sandbox, "--json")
    assert code == 0
    assert json.loads(output)["faults"] == {"wrong-version": "cafef00d"}
    code, table = fault(sandbox)
    assert "wrong-version" in table and "cafef00d" in table and "leak-connections" in table
    assert fault(sandbox, "--clear") == (0, "all faults off\n")
    assert httpx.get(f"{sandbox.url}/api/version").json()["commit"] == sandbox.settings.commit


def test_unknown_fault_is_bad_input(sandbox: RunningSandbox) -> None:
    code, output = fault(sandbox, "health500")
    assert code == 2
    assert "no fault named 'health500' (did you mean 'health-500'?)" in output


def test_bad_value_is_bad_input_and_changes_nothing(sandbox: RunningSandbox) -> None:
    code, output = fault(sandbox, "leak-connections", "many")
    assert code == 2
    assert "leak-connections: 'many' is not a whole number" in output
    assert json.loads(fault(sandbox, "--json")[1])["faults"] == {}


def test_wrong_token_is_refused(sandbox: RunningSandbox) -> None:
    result = runner.invoke(
        app, ["sandbox", "fault", "health-500", "--url", sandbox.url, "--token", "guess"]
    )
    assert result.exit_code == 1
    assert "401" in result.output
    assert httpx.get(f"{sandbox.url}/api/health").status_code == 200


def test_unreachable_sandbox_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["sandbox", "fault", "--url", url])
    assert result.exit_code == 1
    assert f"cannot reach the sandbox at {url}" in result.output


def test_seed_and_schema_commands(pg_url: str) -> None:
    schema = runner.invoke(app, ["sandbox", "schema", "--database-url", pg_url])
    assert schema.exit_code == 0, schema.output
    assert "applied: 20250101000000, 20250301000000, 20250601000000" in schema.output
    again = runner.invoke(app, ["sandbox", "schema", "--database-url", pg_url])
    assert "schema already up to date" in again.output
    seeded = runner.invoke(
        app,
        [
            "sandbox",
            "seed",
            "--database-url",
            pg_url,
            "--attempts",
            "1500",
            "--years",
            "1",
            "--random-seed",
            "3",
        ],
    )
    assert seeded.exit_code == 0, seeded.output
    assert "1,500 attempts" in seeded.output
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select count(*) from scenario_attempts").fetchone() == (1500,)


def test_seed_without_a_database_is_bad_input(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("OPSBOOK_CONFIG", raising=False)
    result = runner.invoke(app, ["sandbox", "seed"])
    assert result.exit_code == 2
    assert "no database: pass --database-url" in result.output


def _leaked(database_url: str) -> int:
    return sum(_sandbox_backends(database_url, state) for state in ("idle", "active"))


def test_leaking_past_the_cap_is_bad_input_and_clear_frees_everything(
    sandbox: RunningSandbox,
) -> None:
    with psycopg.connect(sandbox.database_url) as conn:
        row = conn.execute(
            "select current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
        ).fetchone()
    assert row is not None
    cap = min(500, row[0] - 10)
    code, output = fault(sandbox, "leak-connections", "100000")
    assert code == 2
    assert f"leak-connections: 100000 is more than {cap}, the most this fault holds" in output
    wait_for(lambda: _leaked(sandbox.database_url) == 0)  # nothing was left open
    assert fault(sandbox, "leak-connections", "4")[0] == 0
    assert fault(sandbox, "long-query", "600")[0] == 0
    wait_for(lambda: _leaked(sandbox.database_url) == 5)
    assert fault(sandbox, "--clear") == (0, "all faults off\n")
    wait_for(lambda: _leaked(sandbox.database_url) == 0)
    assert json.loads(fault(sandbox, "--json")[1])["faults"] == {}


BIG = "1000000000000000000000000000000"
CLI_HOSTILE = [
    "-1",
    BIG,
    "nan",
    "inf",
    "1e400",
    "many",
    "9" * 5000,
    "; rm -rf /",
    "$(reboot)",
    "'\"`",
    "\x1b[31mred\x1b[0m",
    "[/]",
]


@pytest.mark.parametrize("name", FAULTS)
def test_hostile_values_are_bad_input_naming_them(sandbox: RunningSandbox, name: str) -> None:
    for value in CLI_HOSTILE:
        if name == "wrong-version" and value in (BIG, "1e400"):
            continue  # hex digits: a commit, as far as anyone can tell
        result = runner.invoke(app, ["sandbox", "fault", "--url", sandbox.url, name, "--", value])
        assert result.exit_code == 2, (value, result.output)
        # Named as the server read it: escaped, cut short, quoted when it was text.
        assert f"error: {name}: " in result.output
        assert shown(value)[1:20] in result.output, result.output
    assert json.loads(fault(sandbox, "--json")[1])["faults"] == {}
