"""The demo's config raises no false alarm: run once by `opsbook check` against a healthy
sandbox, every check it has passes, and what it leaves out it says."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.demo import profile
from opsbook.demo.profile import demo_config
from opsbook.demo.stage import cut_off_runaway_queries
from opsbook.postgres.cluster import TempCluster
from tests.conftest import RunningSandbox


def test_the_demo_config_checks_all_pass_on_a_healthy_sandbox(
    tmp_path: Path,
    sandbox: RunningSandbox,
    pg_cluster: TempCluster,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The sandbox database as the demo sets it up.
    cut_off_runaway_queries(pg_cluster.url(), sandbox.database_url.rsplit("/", 1)[1])
    with ExitStack() as cleanup:
        config = demo_config(cleanup, tmp_path, sandbox.url, sandbox.database_url, sandbox.settings)
        said = capsys.readouterr().out
        result = CliRunner().invoke(app, ["--config", str(config.source), "check", "--json"])
        assert result.exit_code == 0, result.output
    seen = {r["name"]: (r["state"], r["summary"]) for r in json.loads(result.stdout)}
    assert {name for name, (state, _) in seen.items() if state != "ok"} == set(), seen
    # The two that failed on the internet's behalf now read the sandbox's stand-ins.
    assert seen["tls"][0] == "ok" and "127.0.0.1:" in seen["tls"][1]
    assert seen["email-dns"] == ("ok", "voiceaitraining.com: dkim:resend, dmarc, spf present")
    assert "backup" not in seen
    assert "left out          the backup check: no backup is taken here" in said
    # The stand-ins end with the demo: the same file now finds nothing to trust.
    after = CliRunner().invoke(app, ["--config", str(config.source), "check", "tls"])
    assert after.exit_code == 1


def test_without_openssl_tls_is_left_out_and_said(
    tmp_path: Path,
    sandbox: RunningSandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no openssl to be found
    with ExitStack() as cleanup:
        config = demo_config(cleanup, tmp_path, sandbox.url, sandbox.database_url, sandbox.settings)
    assert "left out          the tls check: openssl is not installed" in capsys.readouterr().out
    assert "tls" not in {c.name for c in config.checks}
    written = yaml.safe_load(Path(str(config.source)).read_text())
    shown = [c for component in written["status"]["components"] for c in component["checks"]]
    assert "tls" not in shown and "health" in shown
    assert profile.NO_OPENSSL.startswith("openssl")
