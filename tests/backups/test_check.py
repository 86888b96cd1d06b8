"""The `backup` check kind reads the catalog: down with no backup, ok while the newest
complete one is fresh, degraded once it is older than max_age; the voiceaitraining
profile watches it."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from opsbook.config import load_config
from opsbook.config.profiles import profile_text
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


def test_down_without_a_backup_ok_when_fresh_degraded_when_old(backups: Backups) -> None:
    text = backups.config.read_text()
    assert backups.json("list") == []  # the store exists, the catalog is empty
    none = _check(backups)
    assert (none.state, none.summary) == ("down", "no complete backup: opsbook backup create")

    backups.config.write_text(text)
    created = backups.json("create")
    backups.clock.advance(dt.timedelta(hours=25))
    fresh = _check(backups)
    assert fresh.state == "ok" and f"({created['id']}) is 1d1h old" in fresh.summary
    assert fresh.metrics["backup_age_seconds"] == 25 * 3600

    backups.config.write_text(text)
    backups.clock.advance(dt.timedelta(hours=2))
    stale = _check(backups)
    assert stale.state == "degraded" and "over 1d2h" in stale.summary

    backups.config.write_text(text)
    assert _check(backups, "  max_age: 2d\n").state == "ok"  # backups.max_age


def test_the_voiceaitraining_profile_watches_backups(tmp_path: Path) -> None:
    path = tmp_path / "opsbook.yaml"
    path.write_text(profile_text("voiceaitraining"))
    config = load_config(path, env={})
    [check] = [c for c in config.checks if c.kind == "backup"]
    assert check.name == "backup"
