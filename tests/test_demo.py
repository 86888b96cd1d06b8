"""`opsbook demo` as a user runs it: a real process, stopped with Ctrl-C (SIGINT) or SIGTERM."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from opsbook.postgres.cluster import free_port
from tests.conftest import process_alive

pytestmark = pytest.mark.slow


# As after `make demo`: opsbook is not on PATH.
WITHOUT_OPSBOOK = {**os.environ, "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
WITHOUT_OPSBOOK.pop("OPSBOOK_CONFIG", None)
REPO = Path(__file__).resolve().parent.parent


class Demo:
    def __init__(self, *args: str) -> None:
        self.port = free_port()
        env = {**WITHOUT_OPSBOOK, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "opsbook",
                "demo",
                "--attempts",
                "2000",
                "--port",
                str(self.port),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=REPO,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def read_until(self, marker: str, timeout: float = 120) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                raise AssertionError("demo ended early:\n" + "".join(self.output))
            self.output.append(line)
            if marker in line:
                return "".join(self.output)

    def ensure_stopped(self) -> None:
        """Whatever a failing assertion left running is stopped the way a user would."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        code = self.process.wait(timeout=timeout)
        while (line := self.lines.get(timeout=timeout)) is not None:
            self.output.append(line)
        return code, "".join(self.output)


def _leftovers(text: str) -> tuple[Path, Path, int]:
    state = re.search(r"state directory\s+(\S+)", text)
    cluster = re.search(r"cluster in (\S+), server pid (\d+)", text)
    assert state and cluster, text
    return Path(state.group(1)), Path(cluster.group(1)), int(cluster.group(2))


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def demos() -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for demo in started:
        demo.ensure_stopped()


def _hint(text: str, *words: str) -> str:
    """The printed hint line holding `words`, as a person copies it."""
    for line in text.splitlines():
        if all(w in line for w in words) and ".venv/bin/opsbook" in line:
            return line[line.index(".venv/bin/opsbook") :]
    raise AssertionError(f"no hint with {words}:\n{text}")


def _run_hint(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=REPO,
        env=WITHOUT_OPSBOOK,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_demo_runs_then_stops_cleanly(stop_signal: signal.Signals, demos: list[Demo]) -> None:
    demo = Demo()
    demos.append(demo)
    text = demo.read_until("Ready.")
    state_dir, cluster_dir, server_pid = _leftovers(text)
    assert re.search(r"health\s+.*GET /api/health\s+.*200\s+.*200", text), text
    assert "clerk webhook, unsigned" in text
    assert "fault health-500 on: GET /api/health answers 500" in text
    assert "incident #1 P0 Complete service outage: monitoring" in text
    assert re.search(r"\[2/7\] Kill idle connections: ok \(count (3\d|4\d)", text), text
    # While it runs, everything it printed is really there.
    assert (state_dir / "opsbook.yaml").is_file() and (state_dir / "opsbook.db").is_file()
    assert process_alive(server_pid)
    assert httpx.get(f"http://127.0.0.1:{demo.port}/api/health").json() == {"status": "ok"}
    page = re.search(r"status page +(http://127\.0\.0\.1:\d+/status)", text)
    assert page, text
    # The drills' public updates, resolved before the watching began: among the page's
    # recent incidents.
    recent = page.group(1).removesuffix("/status") + "/api/v2/incidents.json"
    assert "health-500 fault switch is on" in httpx.get(recent).text

    demo.process.send_signal(stop_signal)
    code, text = demo.finish()
    assert code == 0, text
    assert "stopped: servers ended, temporary files removed" in text
    assert not state_dir.exists()
    assert not cluster_dir.exists()
    assert not process_alive(server_pid)
    assert not _port_open(demo.port)


def test_make_demo_watches_break_it_watch_it_fix_it(demos: list[Demo]) -> None:
    """The hints, run as printed with opsbook off PATH: the fault opens an incident, pages
    the fakes and turns the status page red; status shows the live checks."""
    demo = Demo()
    demos.append(demo)
    text = demo.read_until("Ready.")
    assert "try, in another terminal in this folder:" in text
    assert not re.search(r"(?m)^\s+(\w+ it\s+)?opsbook ", text), text  # never bare `opsbook`
    status = _run_hint(_hint(text, "status"))
    assert status.returncode == 0, status.stdout + status.stderr
    assert "no check has run yet" not in status.stdout
    # Healthy checks fold one line per kind: tls among them, so its stand-in answered.
    assert re.search(r"(?m)^ok tls \(1\): tls$", status.stdout), status.stdout
    assert re.search(r"(?m)^ok dns \(1\): email-dns$", status.stdout), status.stdout
    summary = re.search(r"status page +(http://127\.0\.0\.1:\d+)/status", text)
    assert summary, text
    broke = _run_hint(_hint(text, "break it"))
    assert broke.returncode == 0, broke.stdout + broke.stderr
    seen = demo.read_until("PagerDuty got: trigger critical")
    assert re.search(r"FIRING check:health \(crit\) -> opened incident #3 P0", seen), seen
    # The public page shows what the checks saw: the web app's component out (health down,
    # its other checks up: a partial outage), the page no longer all green.
    page = httpx.get(f"{summary.group(1)}/api/v2/summary.json").json()
    web_app = next(c for c in page["components"] if c["name"] == "Web app")
    assert web_app["status"] == "partial_outage", page
    assert page["status"]["indicator"] != "none", page
    history = _run_hint(_hint(text, "history"))
    assert history.returncode == 0 and "health" in history.stdout, history.stdout
    fixed = _run_hint(_hint(text, "fix it"))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    demo.read_until("RESOLVED check:health")
    demo.process.send_signal(signal.SIGINT)
    code, text = demo.finish()
    assert code == 0, text


def test_demo_once_sets_up_runs_and_exits(demos: list[Demo]) -> None:
    demo = Demo("--once")
    demos.append(demo)
    code, text = demo.finish(timeout=180)
    assert code == 0, text
    state_dir, cluster_dir, server_pid = _leftovers(text)
    # Nothing is suggested in a folder about to be removed.
    assert "--config" not in text and "try, in another terminal" not in text
    assert "--once: done" in text
    # The demo's config raises no false alarm: every check it watches is ok.
    checks = re.findall(r"(?m)^  (\S+) +(ok|degraded|down|error) ", text)
    assert len(checks) == 12 and {state for _, state in checks} == {"ok"}, text
    assert "left out          the backup check" in text
    assert not state_dir.exists() and not cluster_dir.exists()
    assert not process_alive(server_pid)


def test_demo_uses_a_given_database(pg_url: str) -> None:
    port = free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "opsbook",
            "demo",
            "--once",
            "--attempts",
            "500",
            "--port",
            str(port),
            "--database-url",
            pg_url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "using the database given with --database-url" in result.stdout
    assert "starting a throwaway PostgreSQL" not in result.stdout


def test_demo_outage_scenario_opens_the_p0(demos: list[Demo]) -> None:
    demo = Demo("--once", "--scenario", "outage")
    demos.append(demo)
    code, text = demo.finish(timeout=180)
    assert code == 0, text
    assert re.search(r"alert check:health firing [\d.]+s after the fault", text), text
    assert re.search(r"incident #1 P0 opened: health check failing: GET ", text), text
    assert "suggested runbook: opsbook runbook run p0-outage --incident 1" in text
    # The providers' status pages (the sandbox's stand-ins) answer "is it us or them?".
    assert re.search(r"vercel-status +ok +Vercel: All Systems Operational", text), text
    assert "providers' status pages all operational" in text and "the outage is ours" in text
    # The page arrives at the demo's fake PagerDuty and Slack, then the resolve, one key.
    trigger = re.search(r"PagerDuty got: trigger critical '\[P0\] Incident #1: health", text)
    resolve = text.find("PagerDuty got: resolve dedup_key=voiceaitraining-incident-1")
    assert trigger and "dedup_key=voiceaitraining-incident-1" in text, text
    assert trigger.start() < resolve, text
    assert "Slack got: New incident: [P0] Incident #1" in text
    # The public status page turns red with the seed's "Investigating" words, then green.
    red = text.find(
        "status page: Major System Outage — We're aware of an issue preventing access to the"
        " platform. Investigating now."
    )
    green = text.find("status page: All Systems Operational")
    assert 0 < red < resolve < green, text
    assert "Incident #2" not in text  # resolved once its alert had, so none reopened
    assert re.search(r"status page +http://127\.0\.0\.1:\d+/status", text), text
    state_dir, cluster_dir, server_pid = _leftovers(text)
    assert not state_dir.exists() and not cluster_dir.exists()
    assert not process_alive(server_pid)


def test_demo_bad_deploy_scenario_catches_it_and_rolls_back(demos: list[Demo]) -> None:
    demo = Demo("--once", "--scenario", "bad-deploy")
    demos.append(demo)
    code, text = demo.finish(timeout=180)
    assert code == 0, text
    good, bad = "9b1d2e3f4a5b", "1111111111aa"
    assert f"deploy #1: {good} passed verification" in text
    # The broken deploy passes its version stage, fails at health, and is rolled back
    # through the sandbox's fake Vercel API to the good one, verified again.
    caught = text.index(f"deploy #2: {bad} failed at health")
    assert re.search(
        r"FAILED health +GET http://127\.0\.0\.1:\d+/api/health: expected status 200, got 500", text
    )
    rolled = text.index("rolling back (--auto-rollback) through the fake Vercel API at /_vercel")
    assert re.search(r"ok promote +Vercel accepted the promote \(202\); serving " + good, text)
    back = text.index(f"rollback #3: production to {good} (voiceaitraining-9b1d2e3f4-2.vercel.app)")
    assert caught < rolled < back, text
    assert "serves and is verified" in text[back:]
    # #deploys (the demo's fake Slack) got the verdicts and the seed's rollback line.
    assert f"Slack got: Deployed {good} to production: verified" in text
    assert f"Slack got: Deploy of {bad} to production failed at health" in text
    assert f"Slack got: Rolled back to previous deployment due to deploy {bad} failed" in text
    # The deploy records, newest first: the rollback, the failed deploy, the good one.
    rows = re.findall(r"│ (\d) +│ production │ ([0-9a-f]{12}) │ (passed|failed) +│ ?(\w*)", text)
    assert rows == [
        ("3", good, "passed", ""),
        ("2", bad, "failed", "health"),
        ("1", good, "passed", ""),
    ], text
    state_dir, cluster_dir, server_pid = _leftovers(text)
    assert not state_dir.exists() and not cluster_dir.exists()
    assert not process_alive(server_pid)
