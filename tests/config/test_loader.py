"""Every bad config names file, line, column, field and what is wrong, and never half-loads."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from opsbook.config import (
    ConfigError,
    Secret,
    SecretUrl,
    collect_secrets,
    find_config,
    load_config,
    mask_text,
    parse_config,
)
from opsbook.config.notify import SlackChannel


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), file="opsbook.yaml", env=env or {})
    return [str(issue) for issue in caught.value.issues]


def test_bad_duration_names_line_column_and_field() -> None:
    text = """\
        version: 1
        checks:
          - name: health
            kind: http
            url: http://127.0.0.1/api/health
          - name: version
            kind: version
            url: http://127.0.0.1/api/version
          - name: pages
            kind: http
            url: http://127.0.0.1/dashboard
            timeout: 5s
            component: app
            interval: fast
        """
    assert problems(text) == [
        "opsbook.yaml:14:15: checks[2].interval: 'fast' is not a duration (use 30s, 5m, 1h)"
    ]


def test_yaml_syntax_error_points_at_the_problem() -> None:
    assert problems("app:\n  url: [1, 2\nproject: x\n") == [
        "opsbook.yaml:3:8: YAML syntax error: expected ',' or ']', but got ':'"
        " (while parsing a flow sequence)"
    ]


def test_unknown_key_suggests_the_right_one() -> None:
    text = """\
        checks:
          - name: health
            kind: http
            url: http://x
            intervall: 30s
        """
    assert problems(text) == [
        "opsbook.yaml:5:5: checks[0].intervall: unknown key 'intervall' (did you mean 'interval'?)"
    ]


def test_unknown_top_level_section() -> None:
    assert problems("projekt: x\n") == [
        "opsbook.yaml:1:1: projekt: unknown key 'projekt' (did you mean 'project'?)"
    ]


def test_wrong_type() -> None:
    text = """\
        checks:
          - name: health
            kind: http
            url: http://x
            fail_after: twice
        """
    assert problems(text) == [
        "opsbook.yaml:5:17: checks[0].fail_after: 'twice' is not a whole number"
    ]


def test_a_command_check_names_its_own_fields() -> None:
    # Its kind is spelled like one of its keys: the union tag is not that key.
    text = """\
        checks:
          - name: backup
            kind: command
            command: pg_dump --version
            fail_after: twice
        """
    assert problems(text) == [
        "opsbook.yaml:5:17: checks[0].fail_after: 'twice' is not a whole number"
    ]


def test_wrong_shape() -> None:
    assert problems("checks: health\n") == [
        "opsbook.yaml:1:9: checks: expected a list, got 'health'"
    ]


def test_unknown_check_kind() -> None:
    text = """\
        checks:
          - name: health
            kind: htp
            url: http://x
        """
    assert problems(text) == [
        "opsbook.yaml:3:11: checks[0].kind: kind 'htp' is not one of http, version, webhook,"
        " statuspage, tls, dns, postgres, backup, prometheus, command (did you mean 'http'?)"
    ]


def test_missing_required_key() -> None:
    assert problems("checks:\n  - name: health\n    kind: http\n") == [
        "opsbook.yaml:2:5: checks[0]: missing required key 'url'"
    ]


def test_unset_variable_without_default() -> None:
    assert problems("app:\n  url: ${APP_URL}\n") == [
        "opsbook.yaml:2:8: app.url: ${APP_URL} is not set"
        " (set APP_URL, or write ${APP_URL:-default})"
    ]


def test_all_unset_variables_are_reported_at_once() -> None:
    found = problems("store:\n  url: ${STORE_URL}\napp:\n  url: ${APP_URL}\n")
    assert [p.split(": ")[0] for p in found] == ["opsbook.yaml:2:8", "opsbook.yaml:4:8"]


def test_duplicate_check_names() -> None:
    text = """\
        checks:
          - name: health
            kind: http
            url: http://x
          - name: health
            kind: version
            url: http://y
        """
    assert problems(text) == [
        "opsbook.yaml:5:11: checks[1].name: duplicate name 'health' (first used on line 2)"
    ]


def test_duplicate_alert_rule_and_channel_names() -> None:
    text = """\
        alerts:
          rules:
            - {name: errors, metric: error_rate, warn: 1%}
            - {name: errors, metric: error_rate, crit: 5%}
        notify:
          channels:
            - {name: slack, kind: slack, webhook_url: "https://hooks.example/a"}
            - {name: slack, kind: slack, webhook_url: "https://hooks.example/b"}
        """
    assert problems(text) == [
        "opsbook.yaml:4:14: alerts.rules[1].name: duplicate name 'errors' (first used on line 3)",
        "opsbook.yaml:8:14: notify.channels[1].name: duplicate name 'slack' (first used on line 7)",
    ]


def test_duplicate_yaml_key() -> None:
    assert problems("app:\n  url: http://a\n  url: http://b\n") == [
        "opsbook.yaml:3:3: app.url: key 'url' appears twice (first on line 2)"
    ]


def test_empty_file() -> None:
    assert problems("") == [
        "opsbook.yaml:1:1: the file is empty (run `opsbook init` for a starter)"
    ]
    assert problems("# only a comment\n") == [
        "opsbook.yaml:1:1: the file is empty (run `opsbook init` for a starter)"
    ]


def test_top_level_must_be_a_mapping() -> None:
    assert problems("- a\n- b\n") == [
        "opsbook.yaml:1:1: the top level must be a mapping of sections"
    ]


def test_routing_to_an_unknown_channel() -> None:
    text = """\
        notify:
          channels:
            - {name: slack-incidents, kind: slack, webhook_url: "https://hooks.example/a"}
          routing:
            P0: [slack-incident]
        """
    assert problems(text) == [
        "opsbook.yaml:5:10: notify.routing.P0[0]: no channel named 'slack-incident'"
        " (did you mean 'slack-incidents'?)"
    ]


def test_unknown_severity_and_bad_threshold() -> None:
    text = """\
        severities:
          P5: {label: Trivial, action: backlog, response_sla: 7d}
        alerts:
          rules:
            - {name: errors, metric: error_rate, warn: lots}
        """
    assert problems(text) == [
        "opsbook.yaml:2:3: severities.P5: 'P5' is not one of P0, P1, P2 or P3",
        "opsbook.yaml:5:48: alerts.rules[0].warn: 'lots' is not a threshold"
        " (use 5%, 0.05, 3s or 500ms)",
    ]


def test_interpolation_with_defaults_and_escapes() -> None:
    text = """\
        app:
          url: ${APP_URL:-https://app.example.com}
          name: "cost: $$5 ${WHO}"
        database:
          url: ${DATABASE_URL:-postgresql://localhost/app}
        """
    config = parse_config(
        textwrap.dedent(text), file="x.yaml", env={"WHO": "ops", "DATABASE_URL": ""}
    )
    assert config.app.url == "https://app.example.com"
    assert config.app.name == "cost: $5 ops"
    # An empty variable counts as unset when a default is given, like the shell's :-.
    assert config.database.url == SecretUrl("postgresql://localhost/app")


def test_seed_thresholds_read_as_written() -> None:
    text = """\
        alerts:
          rules:
            - {name: errors, metric: error_rate, warn: 1%, crit: 5%}
            - {name: latency, metric: p95, warn: 1s, crit: 3000ms, for: 2m}
        """
    rules = parse_config(textwrap.dedent(text), file="x.yaml", env={}).alerts.rules
    assert (rules[0].warn, rules[0].crit) == (0.01, 0.05)
    assert (rules[1].warn, rules[1].crit, rules[1].for_) == (1.0, 3.0, dt.timedelta(minutes=2))


def test_seed_severities_are_the_defaults_and_one_can_be_overridden() -> None:
    config = parse_config(
        "severities:\n  P2: {label: Medium, action: ticket, response_sla: 2h}\n",
        file="x.yaml",
        env={},
    )
    assert config.severity("P0").action == "page"
    assert config.severity("P0").response_sla == dt.timedelta(0)
    assert config.severity("P1").response_sla == dt.timedelta(minutes=30)
    assert config.severity("P2").response_sla == dt.timedelta(hours=2)
    assert config.severity("P3").response_sla == dt.timedelta(hours=24)


def test_secrets_are_masked_in_every_printed_form() -> None:
    text = """\
        database:
          url: postgresql://app:s3cret-pw@db.example.com:5432/postgres
        notify:
          channels:
            - {name: slack, kind: slack, webhook_url: "https://hooks.slack.com/services/T0/B0/xyz"}
            - {name: pd, kind: pagerduty, routing_key: R0UTINGKEY}
        """
    config = parse_config(textwrap.dedent(text), file="x.yaml", env={})
    dumped = config.model_dump_json() + repr(config) + str(config.model_dump())
    for secret in ("s3cret-pw", "hooks.slack.com/services/T0/B0/xyz", "R0UTINGKEY"):
        assert secret not in dumped
    # The host stays readable: the responder must see which database a command targets.
    assert str(config.database.url) == "postgresql://app:***@db.example.com:5432/postgres"
    slack = config.notify.channels[0]
    assert isinstance(slack, SlackChannel)
    assert isinstance(slack.webhook_url, Secret)
    assert slack.webhook_url.reveal() == "https://hooks.slack.com/services/T0/B0/xyz"
    secrets = collect_secrets(config)
    assert set(secrets) == {"s3cret-pw", "https://hooks.slack.com/services/T0/B0/xyz", "R0UTINGKEY"}
    assert mask_text("curl https://hooks.slack.com/services/T0/B0/xyz", secrets) == "curl ***"


def test_paths_resolve_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "ops").mkdir()
    path = tmp_path / "ops" / "opsbook.yaml"
    path.write_text("runbooks:\n  paths: [runbooks]\n")
    config = load_config(path, env={})
    assert config.source == path.resolve()
    assert config.resolve_path("runbooks") == path.resolve().parent / "runbooks"
    assert config.resolve_path("/abs/x") == Path("/abs/x")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_config_is_found_by_option_then_environment_then_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "opsbook.yaml").write_text("project: here\n")
    monkeypatch.delenv("OPSBOOK_CONFIG", raising=False)
    assert find_config(cwd=tmp_path) == tmp_path / "opsbook.yaml"
    monkeypatch.setenv("OPSBOOK_CONFIG", "/etc/opsbook/prod.yaml")
    assert find_config(cwd=tmp_path) == Path("/etc/opsbook/prod.yaml")
    assert find_config("given.yaml", cwd=tmp_path) == Path("given.yaml")
    monkeypatch.delenv("OPSBOOK_CONFIG")
    (tmp_path / "elsewhere").mkdir()
    assert find_config(cwd=tmp_path / "elsewhere") is None
