from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.config.dotenv import parse_env_text
from opsbook.config.profiles import env_example

runner = CliRunner()

SEED_VARS = {
    "DATABASE_URL": "postgresql://app:db-pass-123@db.internal:5432/postgres",
    "SLACK_INCIDENTS_WEBHOOK": "https://hooks.slack.com/services/T1/B1/incidents-secret",
    "SLACK_DEPLOYS_WEBHOOK": "https://hooks.slack.com/services/T1/B2/deploys-secret",
    "PAGERDUTY_ROUTING_KEY": "pd-routing-key-abcdef",
    "SMTP_HOST": "smtp.resend.com",
    "SMTP_USERNAME": "resend",
    "SMTP_PASSWORD": "smtp-pass-xyz",
}

SEED_SECRETS = (
    "db-pass-123",
    "incidents-secret",
    "deploys-secret",
    "pd-routing-key",
    "smtp-pass-xyz",
)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSBOOK_CONFIG", raising=False)
    for name in (*SEED_VARS, "APP_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_init_writes_a_starter_that_checks(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert (workdir / "opsbook.yaml").read_text().startswith("# opsbook.yaml")
    monkeypatch.setenv("DATABASE_URL", SEED_VARS["DATABASE_URL"])
    check = runner.invoke(app, ["config", "check"])
    assert check.exit_code == 0, check.output
    assert "ok " in check.output


def test_init_refuses_to_overwrite_without_force(workdir: Path) -> None:
    (workdir / "opsbook.yaml").write_text("project: mine\n")
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 2
    assert "already exists; pass --force" in result.output
    assert (workdir / "opsbook.yaml").read_text() == "project: mine\n"
    forced = runner.invoke(app, ["init", "--force", "--profile", "voiceaitraining"])
    assert forced.exit_code == 0
    assert "project: voiceaitraining" in (workdir / "opsbook.yaml").read_text()


def test_init_rejects_an_unknown_profile(workdir: Path) -> None:
    result = runner.invoke(app, ["init", "--profile", "voiceai"])
    assert result.exit_code == 2
    assert "no profile 'voiceai'; choose one of: default, voiceaitraining" in result.output
    assert not (workdir / "opsbook.yaml").exists()


def test_voiceaitraining_profile_loads_with_its_variables(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.invoke(app, ["init", "--profile", "voiceaitraining"])
    for name, value in SEED_VARS.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["config", "check", "--json"])
    assert result.exit_code == 0, result.output
    config = json.loads(result.output)
    assert config["app"]["url"] == "https://app.voiceaitraining.com"
    assert config["database"]["url"] == "postgresql://app:***@db.internal:5432/postgres"
    assert {c["name"] for c in config["checks"]} >= {
        "health",
        "version",
        "webhook-clerk",
        "webhook-vapi",
        "webhook-stripe",
        "vercel-status",
        "supabase-status",
        "clerk-status",
        "vapi-status",
        "database",
    }
    thresholds = {r["name"]: (r["warn"], r["crit"]) for r in config["alerts"]["rules"]}
    assert thresholds == {
        "error-rate": (0.01, 0.05),
        "api-p95-latency": (1.0, 3.0),
        "database-connections": (0.7, 0.9),
        "disk-usage": (0.7, 0.85),
        "voice-call-failures": (0.05, 0.2),
    }
    assert config["notify"]["routing"]["P0"] == ["pagerduty", "slack-incidents", "email-escalation"]
    assert config["severities"]["P1"]["response_sla"] == "30m"


def test_config_check_masks_every_secret(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner.invoke(app, ["init", "--profile", "voiceaitraining"])
    for name, value in SEED_VARS.items():
        monkeypatch.setenv(name, value)
    for args in (["config", "check", "--show"], ["config", "check", "--json"]):
        output = runner.invoke(app, args).output
        for secret in SEED_SECRETS:
            assert secret not in output
        assert "***" in output


def test_bad_config_exits_2_with_location_and_changes_nothing(workdir: Path) -> None:
    (workdir / "opsbook.yaml").write_text(
        "store:\n  url: sqlite:///opsbook.db\nchecks:\n  - name: a\n    kind: http\n"
        "    url: http://x\n    interval: soon\n"
    )
    for args in (["config", "check"], ["store", "upgrade"], ["audit", "list"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, args
        assert "opsbook.yaml:7:15: checks[0].interval: 'soon' is not a duration" in result.output
        assert "1 problem in" in result.output
    assert not (workdir / "opsbook.db").exists()


def test_config_option_comes_before_the_command(workdir: Path) -> None:
    (workdir / "prod.yaml").write_text("project: prod\n")
    result = runner.invoke(app, ["--config", "prod.yaml", "config", "check", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["project"] == "prod"


def test_environment_variable_names_the_config(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "elsewhere.yaml").write_text("project: from-env\n")
    monkeypatch.setenv("OPSBOOK_CONFIG", str(workdir / "elsewhere.yaml"))
    result = runner.invoke(app, ["config", "check", "--json"])
    assert json.loads(result.output)["project"] == "from-env"


def test_config_check_without_a_file_says_how_to_get_one(workdir: Path) -> None:
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 2
    assert "no opsbook.yaml here" in result.output and "opsbook init" in result.output


# --- first run: secrets arrive later, in .env or the environment ---------------------------

FIRST_RUN_BLOCK = [
    "Unset secrets: 6 features stay off until they are set (in the environment or ",
    "  Target database (database.url): set DATABASE_URL — database care (opsbook db and the"
    " 'database' check) stays off until it is set",
    "  PagerDuty (P0, P1 pages): set PAGERDUTY_ROUTING_KEY — paging stays off until it is set",
    "  Slack #incidents (P0, P1, P2 messages): set SLACK_INCIDENTS_WEBHOOK — messages to"
    " #incidents stay off until it is set",
    "  Slack #deploys (not routed): set SLACK_DEPLOYS_WEBHOOK — messages to #deploys stay off"
    " until it is set",
    "  Email email-escalation (P0 email): set SMTP_HOST, SMTP_USERNAME and SMTP_PASSWORD —"
    " email to cto@voiceaitraining.com, devops@voiceaitraining.com stays off until they are set",
    "  Email tickets (P2 email): set SMTP_HOST, SMTP_USERNAME and SMTP_PASSWORD — email to"
    " support@voiceaitraining.com stays off until they are set",
]


def _env_file(values: dict[str, str]) -> str:
    return "".join(f"{name}='{value}'\n" for name, value in values.items())


def test_first_run_checks_with_secrets_off_then_with_them_from_env_file(workdir: Path) -> None:
    init = runner.invoke(app, ["init", "--profile", "voiceaitraining"])
    assert init.exit_code == 0, init.output
    assert "next: copy .env.example to .env" in init.output
    first = runner.invoke(app, ["config", "check"])
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Unset secrets"))
    sentences = [line for line in lines[start:] if not line.startswith("      ")]
    assert sentences[0].startswith(FIRST_RUN_BLOCK[0])
    assert sentences[1 : len(FIRST_RUN_BLOCK)] == FIRST_RUN_BLOCK[1:]
    # Where to find each value, from the profile's env: map, under its feature.
    assert "      PAGERDUTY_ROUTING_KEY: PagerDuty > Services >" in first.output
    assert first.output.startswith("ok ")  # the verdict first
    unset = json.loads(runner.invoke(app, ["config", "check", "--json"]).output)["unset_secrets"]
    assert [(f["section"], f["name"], f["variables"]) for f in unset] == [
        ("database", None, ["DATABASE_URL"]),
        ("notify.channels", "pagerduty", ["PAGERDUTY_ROUTING_KEY"]),
        ("notify.channels", "slack-incidents", ["SLACK_INCIDENTS_WEBHOOK"]),
        ("notify.channels", "slack-deploys", ["SLACK_DEPLOYS_WEBHOOK"]),
        ("notify.channels", "email-escalation", ["SMTP_HOST", "SMTP_USERNAME", "SMTP_PASSWORD"]),
        ("notify.channels", "tickets", ["SMTP_HOST", "SMTP_USERNAME", "SMTP_PASSWORD"]),
    ]

    (workdir / ".env").write_text(_env_file(SEED_VARS))
    for args in (["config", "check"], ["config", "check", "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "Unset secrets" not in result.output
        for secret in SEED_SECRETS:
            assert secret not in result.output
    resolved = json.loads(runner.invoke(app, ["config", "check", "--json"]).output)
    assert resolved["unset_secrets"] == []
    assert resolved["database"]["url"] == "postgresql://app:***@db.internal:5432/postgres"
    channels = {c["name"]: c for c in resolved["notify"]["channels"]}
    assert channels["pagerduty"]["routing_key"] == "***"
    assert channels["email-escalation"]["smtp_host"] == "smtp.resend.com"


def test_the_environment_wins_over_env_file(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner.invoke(app, ["init", "--profile", "voiceaitraining"])
    (workdir / ".env").write_text(
        _env_file(SEED_VARS | {"APP_URL": "https://from-env-file.example"})
    )
    monkeypatch.setenv("APP_URL", "https://from-environment.example")
    # Set but empty in the environment: it still wins, and an empty secret is unset.
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "")
    resolved = json.loads(runner.invoke(app, ["config", "check", "--json"]).output)
    assert resolved["app"]["url"] == "https://from-environment.example"
    assert [f["name"] for f in resolved["unset_secrets"]] == ["pagerduty"]


def test_env_example_lists_every_variable_the_config_reads(workdir: Path) -> None:
    for profile in ("default", "voiceaitraining"):
        result = runner.invoke(app, ["init", "--force", "--profile", profile])
        assert result.exit_code == 0, result.output
        config = (workdir / "opsbook.yaml").read_text()
        example = (workdir / ".env.example").read_text()
        values = "\n".join(
            line for line in config.splitlines() if not line.lstrip().startswith("#")
        )
        referenced = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", values))
        listed = set(re.findall(r"^(?:# )?([A-Z_][A-Z0-9_]*)=", example, re.M))
        assert referenced and listed == referenced, profile
        assert "(no description" not in example, profile  # the profile describes them all
        # Secrets without a default are ready to fill in; defaults are shown, commented.
        if profile == "voiceaitraining":
            assert "\nPAGERDUTY_ROUTING_KEY=\n" in example
            assert "\n# APP_URL=https://app.voiceaitraining.com\n" in example
            assert "Used by: channel email-escalation" in example


def test_init_keeps_an_existing_env_example_without_force(workdir: Path) -> None:
    (workdir / ".env.example").write_text("MINE=1\n")
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert "kept the existing .env.example" in result.output
    assert (workdir / ".env.example").read_text() == "MINE=1\n"
    assert not (workdir / ".env").exists()  # init never writes the secrets file itself


def test_database_commands_say_which_variable_to_set(workdir: Path) -> None:
    runner.invoke(app, ["init", "--profile", "voiceaitraining"])
    result = runner.invoke(app, ["db", "status"])
    assert result.exit_code == 2
    assert (
        "no target database: DATABASE_URL is not set (database.url): set it in the environment"
        " or .env, or pass --database-url"
    ) in result.output


HOSTILE = "[/x][bold red]boom\\x1b $(rm -rf /) `id`; rm -rf / 'q' \"qq\"\nEVIL=1"


def test_hostile_descriptions_and_defaults_stay_text(workdir: Path) -> None:
    """What the config's env: map and defaults hold is shown as written in config check,
    and in .env.example it stays in comments: it can set no variable."""
    (workdir / "opsbook.yaml").write_text(
        "env:\n"
        f"  PD_KEY: {json.dumps(HOSTILE)}\n"
        "app:\n"
        '  name: "${NAME:-$(rm -rf /) \'a\' \\"b\\" \\\\}"\n'
        "notify:\n"
        "  channels:\n"
        # Channel names are plain words (a pattern refuses markup); the description is free.
        "    - {name: pager, kind: pagerduty, routing_key: '${PD_KEY}'}\n"
    )
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "PagerDuty pager (not routed): set PD_KEY" in result.output
    assert "      PD_KEY: [/x][bold red]boom\\x1b $(rm -rf /) `id`; rm -rf / 'q'" in result.output
    assert "\x1b" not in result.output

    example = env_example((workdir / "opsbook.yaml").read_text())
    assert parse_env_text(example, file=".env.example") == {"PD_KEY": ""}
    default = next(line for line in example.splitlines() if line.startswith("# NAME="))
    assert parse_env_text(default.removeprefix("# "), file="x") == {
        "NAME": "$(rm -rf /) 'a' \"b\" \\"
    }


def test_config_check_says_its_verdict_first_and_the_yaml_only_with_show(workdir: Path) -> None:
    (workdir / "opsbook.yaml").write_text(
        "project: '[/x]\\e[31m'\nchecks:\n  - {name: api, kind: http, url: 'http://127.0.0.1:9/'}\n"
    )
    short = runner.invoke(app, ["config", "check"])
    assert short.exit_code == 0, short.output
    assert short.output.startswith("ok ") and ": 1 checks, 0 alert rules" in short.output
    assert "project:" not in short.output
    assert "opsbook config check --show" in short.output
    shown = runner.invoke(app, ["config", "check", "--show"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("ok ")
    assert "project: '[/x]\\e[31m'" in shown.output and "\x1b" not in shown.output
