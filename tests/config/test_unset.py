"""An unset secret switches its feature off with a reason; an unset variable anywhere else
still fails the load with file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import Config, ConfigError, parse_config
from opsbook.config.notify import EmailChannel, PagerDutyChannel, SlackChannel
from opsbook.config.secrets import is_set
from opsbook.config.unset import off_features
from opsbook.store import Store
from opsbook.watch.scheduler import Scheduler

runner = CliRunner()

CHANNELS = textwrap.dedent(
    """\
    notify:
      channels:
        - name: pager
          kind: pagerduty
          routing_key: ${PD_KEY}
        - name: mail
          kind: email
          smtp_host: ${SMTP_HOST}
          password: ${SMTP_PASSWORD}
          from: ops@example.com
          to: [cto@example.com]
        - name: chat
          kind: slack
          webhook_url: ${SLACK_URL:-https://hooks.slack.example/T/B/default}
      routing:
        P0: [pager, mail]
    """
)


def load(text: str, env: dict[str, str] | None = None) -> Config:
    return parse_config(textwrap.dedent(text), file="opsbook.yaml", env=env or {})


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text, env)
    return [str(issue) for issue in caught.value.issues]


def test_an_unset_secret_leaves_its_channel_off_with_a_reason() -> None:
    config = load(CHANNELS + "env:\n  SMTP_HOST: Resend > Settings > SMTP\n")
    pager, mail, chat = config.notify.channels
    assert isinstance(pager, PagerDutyChannel) and not is_set(pager.routing_key)
    assert isinstance(mail, EmailChannel) and not is_set(mail.password)
    assert isinstance(chat, SlackChannel) and is_set(chat.webhook_url)
    assert config.off_reason("notify.channels", "pager") == (
        "PD_KEY is not set (notify.channels[0].routing_key)"
    )
    assert config.off_reason("notify.channels", "mail") == (
        "SMTP_HOST is not set (notify.channels[1].smtp_host); "
        "SMTP_PASSWORD is not set (notify.channels[1].password)"
    )
    assert config.off_reason("notify.channels", "chat") is None
    [where] = [u for u in config.unset_secrets if u.variable == "PD_KEY"]
    assert (where.line, where.column) == (5, 20)
    assert [f.sentence for f in off_features(config)] == [
        "PagerDuty pager (P0 pages): set PD_KEY — paging stays off until it is set",
        "Email mail (P0 email): set SMTP_HOST and SMTP_PASSWORD — email to cto@example.com"
        " stays off until they are set",
    ]


def test_set_variables_turn_the_channels_on() -> None:
    env = {"PD_KEY": "k" * 32, "SMTP_HOST": "smtp.example", "SMTP_PASSWORD": "pw-123456"}
    config = load(CHANNELS, env)
    assert config.unset_secrets == () and off_features(config) == []


def test_an_empty_secret_is_unset_like_a_missing_one() -> None:
    config = load(CHANNELS, {"PD_KEY": "", "SMTP_HOST": "smtp.example", "SMTP_PASSWORD": "x"})
    assert [u.variable for u in config.unset_secrets] == ["PD_KEY"]


def test_a_typo_in_a_plain_value_still_fails_loudly_with_its_place() -> None:
    """SMTP_HOST is no secret: unless the config's env: map names it as one to fill in
    later, an unset one is a mistake, and a near name is suggested."""
    found = problems(CHANNELS, {"SMTP_HOTS": "smtp.example"})
    assert found == [
        "opsbook.yaml:8:18: notify.channels[1].smtp_host: ${SMTP_HOST} is not set"
        " (set SMTP_HOST, or write ${SMTP_HOST:-default}) (did you mean 'SMTP_HOTS'?)"
    ]
    assert problems("app:\n  url: ${APP_URLL}\n", {"APP_URL": "http://x"}) == [
        "opsbook.yaml:2:8: app.url: ${APP_URLL} is not set"
        " (set APP_URLL, or write ${APP_URLL:-default}) (did you mean 'APP_URL'?)"
    ]


def test_a_secret_with_nothing_to_switch_off_still_fails() -> None:
    """The Alertmanager receiver without its token would be open to anyone, and opsbook
    cannot run without its store: those fail the load."""
    found = problems("alertmanager:\n  token: ${AM_TOKEN}\nstore:\n  url: ${STORE}\n")
    assert [f.split(": ")[1] for f in found] == ["alertmanager.token", "store.url"]


def test_a_value_that_cannot_be_empty_says_its_variable_is_unset() -> None:
    text = CHANNELS.replace("password: ${SMTP_PASSWORD}", "smtp_port: ${SMTP_PORT}")
    found = problems(text + "env:\n  SMTP_PORT: the SMTP port\n", {"SMTP_HOST": "smtp.example"})
    assert found == [
        "opsbook.yaml:9:18: notify.channels[1].smtp_port: ${SMTP_PORT} is not set,"
        " and this value cannot be empty"
    ]


def test_an_unset_database_url_leaves_database_care_and_its_check_off() -> None:
    config = load(
        """\
        database:
          url: ${DATABASE_URL}
        checks:
          - {name: database, kind: postgres}
          - {name: replica, kind: postgres, database_url: "${REPLICA_URL:-postgresql://r/db}"}
          - name: metrics
            kind: prometheus
            url: http://127.0.0.1:9090
            query: up
            metric: up
            bearer_token: ${PROM_TOKEN}
        """
    )
    assert config.database.url is None
    assert config.off_reason("database") == "DATABASE_URL is not set (database.url)"
    assert config.off_reason("checks", "database") == "DATABASE_URL is not set (database.url)"
    assert config.off_reason("checks", "replica") is None
    assert (
        config.off_reason("checks", "metrics") == "PROM_TOKEN is not set (checks[2].bearer_token)"
    )
    assert [f.sentence for f in off_features(config)] == [
        "Target database (database.url): set DATABASE_URL — database care (opsbook db and the"
        " 'database' check) stays off until it is set",
        "Check 'metrics': set PROM_TOKEN — the check stays off until it is set",
    ]


def test_the_scheduler_never_runs_a_check_that_is_off(store: Store, clock: FrozenClock) -> None:
    config = load(
        """\
        checks:
          - {name: up, kind: command, command: "true"}
          - {name: keyed, kind: http, url: "http://127.0.0.1:1/", headers: {X-Key: "${KEY}"}}
        """
    )
    assert [slot.check.name for slot in Scheduler(config, store, clock=clock).slots] == ["up"]


def test_the_env_map_holds_variable_names_only() -> None:
    assert problems("env:\n  'BAD NAME': x\n  OK: '" + "y" * 2001 + "'\n") == [
        "opsbook.yaml:2:15: env.BAD NAME: string should match pattern"
        " '^[A-Za-z_][A-Za-z0-9_]{0,127}$'",
        "opsbook.yaml:3:7: env.OK: string should have at most 2000 characters",
    ]


def test_opsbook_check_says_a_check_is_off_and_runs_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSBOOK_CONFIG", raising=False)
    monkeypatch.delenv("HOOK_KEY", raising=False)
    (tmp_path / "opsbook.yaml").write_text(
        "checks:\n"
        "  - {name: fine, kind: command, command: 'true'}\n"
        "  - {name: keyed, kind: http, url: 'http://127.0.0.1:1/', headers: {X: '${HOOK_KEY}'}}\n"
    )
    named = runner.invoke(app, ["check", "keyed"])
    assert named.exit_code == 2
    assert "the check 'keyed' is off: HOOK_KEY is not set (checks[1].headers.X)" in named.output
    every = runner.invoke(app, ["check", "--json"])
    assert every.exit_code == 0, every.output
    assert '"name": "fine"' in every.output and "keyed" not in every.output


TWO_WAY = textwrap.dedent(
    """\
    notify:
      channels:
        - name: pager
          kind: pagerduty
          routing_key: kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk
          webhook_secret: ${PD_WEBHOOK_SECRET}
        - name: chat
          kind: slack
          webhook_url: https://hooks.slack.example/T/B/x
          signing_secret: ${SLACK_SIGNING_SECRET}
    """
)


def test_an_unset_inbound_secret_turns_off_two_way_acknowledge_not_the_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load(TWO_WAY)
    assert config.off_reason("notify.channels", "pager") is None
    assert config.off_reason("notify.channels", "chat") is None
    assert config.off_reason("notify.inbound", "chat") == (
        "SLACK_SIGNING_SECRET is not set (notify.channels[1].signing_secret)"
    )
    assert [f.sentence for f in off_features(config)] == [
        "PagerDuty webhooks of 'pager' (POST /api/v1/pagerduty): set PD_WEBHOOK_SECRET —"
        " acknowledging or resolving in PagerDuty does not reach opsbook until it is set",
        "Slack buttons of 'chat' (POST /api/v1/slack/interactions): set SLACK_SIGNING_SECRET"
        " — its messages carry no Acknowledge or Resolve buttons until it is set",
    ]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "opsbook.yaml").write_text(TWO_WAY)
    checked = runner.invoke(app, ["config", "check", "--show"], env={"PD_WEBHOOK_SECRET": "p" * 40})
    assert checked.exit_code == 0, checked.output
    said = " ".join(checked.output.split())
    assert "Slack buttons of 'chat'" in said and "PagerDuty webhooks" not in said
    assert "p" * 40 not in checked.output  # set, and masked
    assert "webhook_secret: '***'" in checked.output


def test_a_short_inbound_secret_is_refused_with_its_place() -> None:
    found = problems(TWO_WAY, {"PD_WEBHOOK_SECRET": "short", "SLACK_SIGNING_SECRET": "s" * 32})
    assert len(found) == 1 and "webhook_secret needs at least 16 characters" in found[0]
    assert "opsbook.yaml:" in found[0]


METRICS = "serve:\n  metrics_token: ${OPSBOOK_METRICS_TOKEN}\n"


def test_an_unset_metrics_token_turns_metrics_off_and_config_check_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load(METRICS)
    assert not is_set(config.serve.metrics_token)
    assert config.off_reason("serve.metrics") == (
        "OPSBOOK_METRICS_TOKEN is not set (serve.metrics_token)"
    )
    assert [f.sentence for f in off_features(config)] == [
        "Metrics (GET /metrics): set OPSBOOK_METRICS_TOKEN — GET /metrics answers 404 until"
        " it is set"
    ]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "opsbook.yaml").write_text(METRICS)
    token = "m; rm -rf / $(reboot) [/x]\"'"
    checked = runner.invoke(
        app, ["config", "check", "--show"], env={"OPSBOOK_METRICS_TOKEN": token}
    )
    assert checked.exit_code == 0, checked.output
    assert "Metrics (GET /metrics)" not in checked.output
    assert token not in checked.output and "metrics_token: '***'" in checked.output
    off = runner.invoke(app, ["config", "check", "--show"], env={"OPSBOOK_METRICS_TOKEN": ""})
    assert off.exit_code == 0 and "Metrics (GET /metrics)" in " ".join(off.output.split())
