"""A process killed mid-action still leaves its intent in the audit log, and nothing torn."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.store import audit, open_store

CHILD = textwrap.dedent(
    """
    import sys, threading
    from opsbook.store import audit, open_store
    store = open_store(sys.argv[1])
    with audit.audited(store, action="db.terminate", target="pid 4242", actor="alice"):
        print("acting", flush=True)
        threading.Event().wait()
    """
)


def test_sigkill_mid_action_leaves_a_started_entry(store_url: str, tmp_path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, store_url], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "acting"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)

    store = open_store(store_url)
    with store.session() as session:
        [entry] = audit.entries(session)
    assert (entry.action, entry.target, entry.outcome) == ("db.terminate", "pid 4242", "started")
    with store.session() as session:  # the store still takes writes after the kill
        audit.record(session, action="after", target="x", outcome="ok")
    store.close()

    config = tmp_path / "opsbook.yaml"
    config.write_text(f"store:\n  url: {store_url}\n")
    shown = CliRunner().invoke(app, ["--config", str(config), "audit", "list", "--json"])
    after, killed = json.loads(shown.output)
    assert (killed["outcome"], killed["unfinished"]) == ("started", True)
    assert after["unfinished"] is False
