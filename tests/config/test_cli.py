from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsbook.cli import app

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


def test_voiceaitraining_profile_needs_its_variables_then_passes(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.invoke(app, ["init", "--profile", "voiceaitraining"])
    unset = runner.invoke(app, ["config", "check"])
    assert unset.exit_code == 2
    for name in SEED_VARS:
        assert f"${{{name}}} is not set" in unset.output
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
    for args in (["config", "check"], ["config", "check", "--json"]):
        output = runner.invoke(app, args).output
        for secret in (
            "db-pass-123",
            "incidents-secret",
            "deploys-secret",
            "pd-routing-key",
            "smtp-pass-xyz",
        ):
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
