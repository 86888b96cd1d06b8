"""`opsbook sandbox run` as a real server process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import psycopg

from opsbook.postgres.cluster import free_port
from tests.conftest import wait_for


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_run_applies_the_schema_serves_and_stops_on_ctrl_c(pg_url: str) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opsbook",
            "sandbox",
            "run",
            "--database-url",
            pg_url,
            "--port",
            str(port),
            "--commit",
            "abc1234",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/api/health"), timeout=30)
        assert httpx.get(f"http://127.0.0.1:{port}/api/version").json() == {"commit": "abc1234"}
        with psycopg.connect(pg_url) as conn:
            assert conn.execute(
                "select count(*) from supabase_migrations.schema_migrations"
            ).fetchone() == (3,)
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "applied sandbox migrations" in output
    assert not _answers(f"http://127.0.0.1:{port}/api/health")
