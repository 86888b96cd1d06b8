"""Two schedulers on one store, each a real OS process with its own connection, tick at
the same slot at the same moment: the slot runs once."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from opsbook.clock import FrozenClock
from opsbook.config import load_config
from opsbook.registry import default_registry
from opsbook.routines import service
from opsbook.routines.models import RoutineRun
from opsbook.runbooks.records import RunRecord
from opsbook.store import open_store
from tests.routines.conftest import WEEKLY, write_config

ROOT = Path(__file__).resolve().parents[2]
SLOT = dt.datetime(2026, 3, 23, 8, tzinfo=dt.UTC)  # Monday 09:00 in Berlin


@pytest.mark.slow
def test_two_scheduler_processes_run_a_slot_once(tmp_path: Path, store_url: str) -> None:
    path = write_config(tmp_path, WEEKLY, store_url=store_url)
    config = load_config(path)
    store = open_store(config.store.url.reveal(), base_dir=tmp_path)
    earlier = FrozenClock(SLOT - dt.timedelta(days=2))
    assert service.tick(store, config, default_registry(), clock=earlier) == []  # first seen
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.routines.claimer", str(path), SLOT.isoformat(), str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
    go.touch()
    counts = []
    for process in processes:
        out, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors
        counts.append(int(out.strip()))
    assert sorted(counts) == [0, 1]
    with store.reading() as session:
        assert session.scalar(select(func.count()).select_from(RoutineRun)) == 1
        assert session.scalar(select(func.count()).select_from(RunRecord)) == 1
    store.close()
