"""The `backup` check kind reads the catalog: down while no backup is verified (saying
how many wait), ok while the newest verified one is fresh, degraded once it is older than
max_age; the voiceaitraining profile watches it."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from opsbook.config import load_config
from opsbook.config.profiles import profile_text
from opsbook.postgres.cluster import TempCluster
from opsbook.watch.result import CheckResult
from opsbook.watch.runner import run_checks
from tests.backups.conftest import Backups


def _check(backups: Backups, extra: str = "") -> CheckResult:
    backups.config.write_text(
        backups.config.read_text() + extra + "checks:\n  - name: backup\n    kind: backup\n"
    )
    config = load_config(backups.config)
    [result] = asyncio.run(run_checks(config, config.checks, clock=backups.clock))
    return result


def test_down_until_verified_ok_when_fresh_degraded_when_old(backups: Backups) -> None:
    text = backups.config.read_text()
    assert backups.json("list") == []  # the store exists, the catalog is empty
    none = _check(backups)
    assert none.state == "down" and none.summary.startswith("no verified backup (none at all)")

    backups.config.write_text(text)
    created = backups.json("create")
    backups.json("create")
    unverified = _check(backups)
    assert unverified.state == "down"
    assert unverified.summary.startswith("no verified backup (2 unverified): opsbook backup verify")

    backups.config.write_text(text)
    backups.json("verify", str(created["id"]))
    backups.clock.advance(dt.timedelta(hours=25))
    fresh = _check(backups)
    assert fresh.state == "ok", fresh.summary
    assert fresh.summary == f"newest verified backup ({created['id']}) is 1d1h old"
    assert fresh.metrics["backup_age_seconds"] == 25 * 3600

    backups.config.write_text(text)
    backups.clock.advance(dt.timedelta(hours=5))
    stale = _check(backups)
    assert stale.state == "degraded"
    assert stale.summary == f"newest verified backup ({created['id']}) is 1d6h old, over 1d2h"

    backups.config.write_text(text)
    assert _check(backups, "  max_age: 2d\n").state == "ok"  # backups.max_age


def test_the_voiceaitraining_profile_watches_backups(tmp_path: Path) -> None:
    path = tmp_path / "opsbook.yaml"
    path.write_text(profile_text("voiceaitraining"))
    config = load_config(path, env={})
    [check] = [c for c in config.checks if c.kind == "backup"]
    assert check.name == "backup"


def test_the_backup_status_step_judges_as_the_check_does(backups: Backups) -> None:
    # The weekly routine's "Verify backup completion" step: the same judgement, as a step
    # that fails (and says why) until a fresh verified backup exists.
    folder = backups.config.parent / "runbooks"
    folder.mkdir()
    (folder / "fresh.yaml").write_text(
        "name: fresh\ntitle: Verify backup completion\nsteps:\n"
        "  - id: backups\n    title: Verify backup completion\n    uses: backup.status\n"
    )
    backups.config.write_text(backups.config.read_text() + "runbooks:\n  paths: [runbooks]\n")
    missing = backups.opsbook("runbook", "run", "fresh")
    assert missing.exit_code == 1, missing.output
    assert "no verified backup (none at all)" in missing.output

    created = backups.json("create")
    backups.json("verify", str(created["id"]))
    backups.clock.advance(dt.timedelta(hours=2))
    fresh = backups.opsbook("runbook", "run", "fresh")
    assert fresh.exit_code == 0, fresh.output

    backups.clock.advance(dt.timedelta(hours=30))
    stale = backups.opsbook("runbook", "run", "fresh")
    assert stale.exit_code == 1, stale.output
    assert f"newest verified backup ({created['id']}) is 1d8h old, over 1d2h" in stale.output


def test_a_verified_backup_of_another_database_does_not_count(
    backups: Backups, pg_url: str, pg_cluster: TempCluster
) -> None:
    production = backups.config.read_text()
    other = pg_cluster.create_database("check_other")
    try:
        backups.config.write_text(production.replace(f"url: {pg_url}", f"url: {other}"))
        created = backups.json("create")
        backups.json("verify", str(created["id"]))
        assert _check(backups).state == "ok"  # fresh, for the database it was taken of
        backups.config.write_text(production)
        judged = _check(backups)
        assert judged.state == "down", judged.summary
        assert judged.summary.startswith("no verified backup (none at all)")
    finally:
        pg_cluster.drop_database("check_other")
