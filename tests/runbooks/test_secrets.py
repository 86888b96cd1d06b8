"""A secret planted everywhere opsbook can meet one never comes out: not in any command's
output, not in any stored row."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from opsbook.config.secrets import SecretUrl
from tests.runbooks.conftest import Ops

# Each planted secret is a distinct word, so a leak names where it came from.
PARAM_SECRET = "TokenParamSecret-41"
QUERY_PASSWORD = "QueryPasswordSecret-42"
INLINE_PASSWORD = "InlinePasswordSecret-43"
WEBHOOK_SECRET = "WebhookPathSecret-44"
ENV_SECRET = "EnvTokenSecret-45"
SIGNING_SECRET = "SlackSigningSecret-46"
SECRETS = [
    PARAM_SECRET,
    QUERY_PASSWORD,
    INLINE_PASSWORD,
    WEBHOOK_SECRET,
    ENV_SECRET,
    SIGNING_SECRET,
]

LEAKY = """\
    name: leaky
    title: Leaky
    parameters:
      token: {type: secret, required: true}
      same: {type: str, default: ""}
      note: {type: str, default: ""}
    steps:
      - id: echo
        title: Echo the token
        run: echo token={{ params.token }} same={{ params.same }} env=$OPSBOOK_TEST_TOKEN
      - id: call
        title: Call with the token
        http:
          url: "{{ app.url }}/api/health"
          headers: {Authorization: "Bearer {{ params.token }}", X-Api-Key: "{{ params.token }}"}
      - id: inline
        title: Query through an inline URL
        uses: sql.query
        with: {sql: select 1 as one, database_url: "{{ params.note }}"}
      - id: tell
        title: Tell the channel
        notify: {channel: slack, message: "token {{ params.token }} same {{ params.same }}"}
      - id: complain
        title: Fail loudly
        run: "echo {{ params.token }} {{ params.note }} >&2; exit 3"
        on_fail: continue
      - id: confirm
        title: A person confirms
        manual: "check that {{ params.token }} works"
    """


def _with_password(url: str, password: str, *, in_query: bool) -> str:
    parts = urlsplit(url)
    if in_query:
        return urlunsplit(parts._replace(query=f"password={password}"))
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def leaky(ops: Ops, monkeypatch: pytest.MonkeyPatch) -> Ops:
    monkeypatch.setenv("OPSBOOK_TEST_TOKEN", ENV_SECRET)
    database = _with_password(ops.sandbox.database_url, QUERY_PASSWORD, in_query=True)
    ops.config.write_text(
        f"store:\n  url: sqlite:///{ops.root / 'opsbook.db'}\n"
        f"app:\n  url: {ops.sandbox.url}\n"
        f"database:\n  url: {database}\n"
        "runbooks:\n  paths: [runbooks]\n"
        "notify:\n  channels:\n"
        # Unreachable: each notice waits the channel's timeout and a second, so keep it short.
        f"    - {{name: slack, kind: slack, webhook_url: 'https://hooks.test/{WEBHOOK_SECRET}',"
        " timeout: 1s}\n"
    )
    ops.book("leaky", LEAKY)
    return ops


def _assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked in {where}"


def _store_dump(ops: Ops) -> str:
    with sqlite3.connect(ops.root / "opsbook.db") as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        return "\n".join(
            f"{table}: {row!r}"
            for table in tables
            for row in conn.execute(f'select * from "{table}"')  # noqa: S608 - our own tables
        )


def test_a_planted_secret_never_leaves_opsbook(leaky: Ops) -> None:
    ops = leaky
    opened = ops.run("incident", "open", "--sev", "P1", "--title", "Tokens", "--component", "app")
    assert opened.exit_code == 0, opened.output
    inline = _with_password(ops.sandbox.database_url, INLINE_PASSWORD, in_query=False)
    params = [
        "--param",
        f"token={PARAM_SECRET}",
        "--param",
        f"same=https://hooks.test/{WEBHOOK_SECRET}",
        "--param",
        f"note={inline}",
    ]
    outputs = {
        "config check": ops.run("config", "check", "--show"),
        "config check --json": ops.run("config", "check", "--json"),
        "store status": ops.run("store", "status"),
        "store status --json": ops.run("store", "status", "--json"),
        "dry run": ops.run("runbook", "run", "leaky", *params, "--dry-run"),
        "dry run --json": ops.run("runbook", "run", "leaky", *params, "--dry-run", "--json"),
        "show": ops.run("runbook", "show", "leaky"),
        "run": ops.run("runbook", "run", "leaky", "--incident", "1", *params),
        "run --json": ops.run("runbook", "run", "leaky", "--incident", "1", *params, "--json"),
    }
    outputs |= {
        "runs --json": ops.run("runbook", "runs", "--json"),
        "incident show": ops.run("incident", "show", "1"),
        "incident show --json": ops.run("incident", "show", "1", "--json"),
        "audit list": ops.run("audit", "list"),
        "audit list --json": ops.run("audit", "list", "--json"),
    }
    for name, result in outputs.items():
        assert result.exit_code in (0, 1), (name, result.output)
        _assert_clean(result.output, name)
    # It really ran: the values reached the command, the request and the database.
    run = outputs["run --json"].stdout
    assert "token=*** same=*** env=***" in run
    assert '"Authorization": "***"' in run
    assert '"one": 1' in run
    _assert_clean(_store_dump(ops), "the store")


def test_a_secret_parameter_is_asked_for_again_on_resume(leaky: Ops) -> None:
    ops = leaky
    inline = _with_password(ops.sandbox.database_url, INLINE_PASSWORD, in_query=False)
    given = ["--param", f"token={PARAM_SECRET}", "--param", f"note={inline}"]
    started = ops.run("runbook", "run", "leaky", *given, "--json")
    first = json.loads(started.stdout)
    assert first["params"]["token"] == "***"
    assert first["steps"][-1]["status"] == "waiting"
    refused = ops.run("runbook", "resume", str(first["id"]), "--done", "confirm")
    assert refused.exit_code == 2
    assert "parameter 'token' is secret and was never stored" in refused.output
    assert "--param token=..." in refused.output
    resumed = ops.run("runbook", "resume", str(first["id"]), "--done", "confirm", *given, "--json")
    steps = {s["id"]: s["status"] for s in json.loads(resumed.stdout)["steps"]}
    assert steps["confirm"] == "confirmed"
    _assert_clean(resumed.output, "resume")
    _assert_clean(_store_dump(ops), "the store after resume")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw%40x@h:5432/db", "postgresql://u:***@h:5432/db"),
        (
            "postgresql://u@h/db?password=pw&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        (
            "postgresql://u@h/db?sslmode=require&password=pw",
            "postgresql://u@h/db?sslmode=require&password=***",
        ),
        ("host=h user=u password=pw dbname=db", "host=h user=u password=*** dbname=db"),
        ("host=h password = 'p w\\'x' dbname=db", "host=h password = *** dbname=db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://u@h:5/app?%70assword=pw", "postgresql://u@h:5/app?%70assword=***"),
        ("postgresql://u:p?w#x@h:5/app", "postgresql://u:***@h:5/app"),
        ("host=h password=abc\\ def dbname=x", "host=h password=*** dbname=x"),
    ],
)
def test_connection_passwords_are_masked_in_every_libpq_form(url: str, shown: str) -> None:
    secret = SecretUrl(url)
    assert secret.masked() == shown
    assert str(secret) == shown
    for part in secret.secret_parts():
        assert part not in shown


def test_config_check_masks_keyword_and_query_passwords(ops: Ops, tmp_path: Path) -> None:
    ops.config.write_text(
        f"store:\n  url: postgresql://opsbook@127.0.0.1:1/x?password={QUERY_PASSWORD}\n"
        f"database:\n  url: host=127.0.0.1 user=app password={INLINE_PASSWORD} dbname=x\n"
    )
    for args in (("config", "check", "--show"), ("config", "check", "--json")):
        result = ops.run(*args)
        assert result.exit_code == 0, result.output
        _assert_clean(result.output, " ".join(args))
        assert "password=***" in result.output


def test_secrets_never_reach_check_results_incidents_or_config_check(
    ops: Ops, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside the runbook engine: a check that sees a secret (a URL's password, a command
    printing a configured secret or a secret environment variable), an incident titled
    with a connection string, and `config check` of a check's URL."""
    monkeypatch.setenv("OPSBOOK_TEST_TOKEN", ENV_SECRET)
    ops.config.write_text(
        f"store:\n  url: sqlite:///{ops.root / 'opsbook.db'}\n"
        "notify:\n  channels:\n"
        f"    - {{name: slack, kind: slack, webhook_url: 'https://hooks.test/{WEBHOOK_SECRET}',"
        f" signing_secret: {SIGNING_SECRET}}}\n"
        "checks:\n"
        f"  - {{name: api, kind: http, url: 'http://admin:{QUERY_PASSWORD}@127.0.0.1:1/x',"
        " timeout: 2s}\n"
        "  - name: talker\n    kind: command\n"
        f"    command: [sh, -c, 'echo https://hooks.test/{WEBHOOK_SECRET} $OPSBOOK_TEST_TOKEN']\n"
    )
    outputs = {
        "config check": ops.run("config", "check", "--show"),
        "config check --json": ops.run("config", "check", "--json"),
        "check --json": ops.run("check", "--json"),
        "incident open": ops.run(
            "incident",
            "open",
            "--sev",
            "P2",
            "--title",
            f"conn postgresql://u:{INLINE_PASSWORD}@h/db",
            "--symptom",
            f"password={PARAM_SECRET}",
        ),
    }
    # A P0 pages the Slack channel: its outbox message is swept too (output and store).
    outputs["incident open P0"] = ops.run(
        "incident", "open", "--sev", "P0", "--title", f"conn postgresql://u:{INLINE_PASSWORD}@h/db"
    )
    outputs["notify outbox --json"] = ops.run("notify", "outbox", "--json")
    outputs["incident show"] = ops.run("incident", "show", "1")
    outputs["incident list --json"] = ops.run("incident", "list", "--json")
    for name, result in outputs.items():
        assert result.exit_code in (0, 1), (name, result.output)
        _assert_clean(result.output, name)
    [queued] = json.loads(outputs["notify outbox --json"].stdout)
    assert (queued["channel"], queued["kind"]) == ("slack", "trigger")
    checks = {c["name"]: c for c in json.loads(outputs["check --json"].stdout)}
    assert checks["talker"]["summary"].endswith("exit 0: *** ***")  # it ran, and said both
    _assert_clean(_store_dump(ops), "the store")


def test_a_secret_parameter_default_is_never_shown_or_stored(leaky: Ops) -> None:
    ops = leaky
    ops.book(
        "secdef",
        """\
        name: secdef
        title: Secret default
        parameters:
          token: {type: secret, default: DefaultSecret88}
        steps:
          - id: say
            title: Say
            run: echo {{ params.token }}
        """,
    )
    for args in (("runbook", "show", "secdef"), ("runbook", "show", "secdef", "--json")):
        shown = ops.run(*args)
        assert shown.exit_code == 0, shown.output
        assert "DefaultSecret88" not in shown.output
    ops.run("runbook", "run", "secdef")
    assert "DefaultSecret88" not in _store_dump(ops)
