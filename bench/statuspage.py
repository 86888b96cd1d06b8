"""Goal (issue 14): in a surge (the app is down, every customer refreshes), `opsbook serve`
answers /status and /api/v2/summary.json at 10,000 requests/s or more each with p99 under
20 ms, at 50 concurrent keep-alive connections on this 2-core machine, while it runs 1,000
checks with a scheduling lag p99 under 1 s.

Starts a real `opsbook serve` (a subprocess; its state store is SQLite, what serve uses by
default, or with `--store postgresql` a throwaway PostgreSQL) with 1,000 http checks against
a local nginx, over a store holding 90 days of uptime history, 90 days of resolved incidents
and an active P0 with public updates. Then `wrk` (Debian's) hits each dynamic endpoint for
`--seconds`, and, side by side, a second nginx (one worker) serving `opsbook status export`.

The scheduling lag is read at the checks' target: its access log has the moment each
check's request arrived. A check's n-th run is due at its first due time plus n intervals;
the first due time is not logged (jitter draws it), so each check's lag counts from its
earliest run (the least late one, before the surge): the figures can be low by that
baseline (tens of ms, the scheduler's tick) and assume lags under half an interval.
nginx and wrk come from Debian's packages (`scripts/ensure-system bench` installs them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from sqlalchemy.orm import Session

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import service as incidents
from opsbook.postgres.cluster import TempCluster
from opsbook.store import Store, open_store
from opsbook.watch.models import CheckHistory
from watch_scale import free_port, http_checks, run_nginx

COMPONENTS = ["Web app", "Database", "Authentication", "Voice calls", "Email"]
CHECKS_PER_COMPONENT = 2
DAYS = 90
PAST_INCIDENTS = 40
GOAL_RPS, GOAL_P99_MS, GOAL_LAG_S = 10_000, 20.0, 1.0
# The target's access log: when each check's request arrived, and for which check.
TARGET_HTTP = "log_format arrival '$msec $uri';"
TARGET_SERVER = 'access_log {log} arrival; location / {{ return 200 \'{{"status":"ok"}}\'; }}'
STATIC_SERVER = """root {site};
        types {{ text/html html; application/json json; text/css css;
                 application/atom+xml atom; }}"""


@dataclass(frozen=True)
class Run:
    endpoint: str
    server: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    started: float  # wall clock (what nginx logs)
    ended: float
    cpu: float | None  # serve's CPU time over the run, as a share of one core
    wrk_cpu: float  # the load generator's, likewise: it shares the machine's two cores


def write_config(root: Path, store_url: str, checks: int, interval: int, port: int) -> Path:
    per = CHECKS_PER_COMPONENT
    data = {
        "store": {"url": store_url},
        "watch": {"concurrency": 200, "jitter": 1.0},
        "checks": http_checks(checks, interval, port),
        "status": {
            "name": "Voice AI Training Status",
            "url": "https://status.voiceaitraining.com",
            "components": [
                {"name": name, "checks": [f"c{n * per + k}" for k in range(per)]}
                for n, name in enumerate(COMPONENTS)
            ],
        },
    }
    path = root / "opsbook.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def seed(store: Store, now: dt.datetime, rng: random.Random) -> None:
    """90 days of uptime (one bucket a day per component check: the bars sum days), resolved
    incidents across them, and an active P0 with public updates and a private note."""
    first = dt.datetime.combine(now.date() - dt.timedelta(days=DAYS - 1), dt.time(), dt.UTC)
    runs = 8640  # a day of runs at a 10 s interval
    with store.session() as session:
        session.add_all(
            CheckHistory(
                name=f"c{check}",
                every=300,
                bucket=first + dt.timedelta(days=day, hours=12),
                runs=runs,
                ok=runs - down,
                degraded=0,
                down=down,
                timed=runs,
                latency_sum=runs * 12.0,
                latency_max=80.0,
            )
            for check in range(len(COMPONENTS) * CHECKS_PER_COMPONENT)
            for day in range(DAYS)
            for down in [rng.choice([0, 0, 0, 0, 3, 40, 600])]
        )
    with store.session() as session:
        for n in range(PAST_INCIDENTS):
            at = now - dt.timedelta(days=DAYS * (n + 0.5) / PAST_INCIDENTS)
            past(session, at, component=COMPONENTS[n % len(COMPONENTS)], n=n)
        clock = FrozenClock(now - dt.timedelta(minutes=40))
        opened = incidents.open_incident(
            session,
            title="Calls and logins failing",
            severity="P0",
            actor="bench",
            clock=clock,
            component="Web app",
            public=True,
            message="We are investigating failed logins and dropped voice calls.",
        )
        incidents.note(session, incident_id=opened.id, actor="bench", clock=clock, text="ssh db1")
        for minutes, status, message in [
            (15, "identified", "A bad deploy broke session checks; we are rolling it back."),
            (25, "monitoring", "The rollback is out; logins recover, calls still fail."),
            (35, None, "Voice calls recover slowly as the queue drains."),
        ]:
            public_update(
                session, opened.id, now - dt.timedelta(minutes=40 - minutes), status, message
            )


def public_update(
    session: Session, incident: int, at: dt.datetime, status: str | None, message: str
) -> None:
    incidents.update(
        session, incident_id=incident, actor="bench", clock=FrozenClock(at), status=status,
        message=message, public=True,
    )  # fmt: skip


def past(session: Session, at: dt.datetime, *, component: str, n: int) -> None:
    clock = FrozenClock(at)
    opened = incidents.open_incident(
        session,
        title=f"Elevated errors ({n})",
        severity=["P1", "P2", "P3"][n % 3],
        actor="bench",
        clock=clock,
        component=component,
        public=True,
        message=f"Some customers see errors on {component}; we are looking into it.",
    )
    fix = "The cause is known and a fix is being deployed."
    public_update(session, opened.id, at + dt.timedelta(minutes=20), "identified", fix)
    clock = FrozenClock(at + dt.timedelta(minutes=50))
    incidents.resolve(
        session,
        incident_id=opened.id,
        actor="bench",
        clock=clock,
        force=True,
        policy=Config().incidents,
        message="Fixed: error rates are back to normal.",
    )


def opsbook(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "opsbook", "--config", str(config), *args]


@contextmanager
def serving(config: Path, log: Path) -> Iterator[tuple[str, int]]:
    """`opsbook serve` as a subprocess, until the block ends (SIGTERM, as systemd stops it)."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            opsbook(config, "serve", "--port", str(port)), stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)


@contextmanager
def nginx(root: Path, *, server: str, http: str = "") -> Iterator[int]:
    root.mkdir()
    process, port = run_nginx(root, server=server, http=http)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


WRK_LINE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, *, seconds: int, connections: int, threads: int) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms), failed requests and CPU seconds from one wrk run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    found = {f"p{q}_ms": float(v) * UNIT_MS[unit] for q, v, unit in WRK_LINE.findall(out)}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if rps is None or len(found) != 2:
        raise RuntimeError(f"cannot read wrk's output:\n{out}")
    failed = int(bad.group(1)) if bad else 0
    failed += sum(int(n) for n in errors.groups()) if errors else 0
    return {"rps": float(rps.group(1)), **found, "errors": failed, "cpu": cpu}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def surge(
    endpoint: str, server: str, url: str, args: argparse.Namespace, pid: int | None = None
) -> Run:
    answer = httpx.get(url, timeout=30)  # the first request may build the view
    answer.raise_for_status()
    started, cpu = time.time(), cpu_seconds(pid) if pid else 0.0
    figures = wrk(url, seconds=args.seconds, connections=args.connections, threads=args.threads)
    ended = time.time()
    share = (cpu_seconds(pid) - cpu) / (ended - started) if pid else None
    return Run(
        endpoint,
        server,
        figures["rps"],
        figures["p50_ms"],
        figures["p99_ms"],
        int(figures["errors"]),
        started,
        ended,
        share,
        figures["cpu"] / (ended - started),
    )


def arrivals(log: Path) -> dict[str, list[float]]:
    """When each check's requests reached the target (wall clock seconds), in order."""
    seen: dict[str, list[float]] = defaultdict(list)
    for line in log.read_text().splitlines():
        at, _, path = line.partition(" ")
        seen[path].append(float(at))
    return seen


def lags(seen: dict[str, list[float]], interval: float) -> list[tuple[float, float]]:
    """(due, lag) of every run: due is the check's earliest run plus whole intervals."""
    found = []
    for times in seen.values():
        times.sort()
        steps = [round((t - times[0]) / interval) for t in times]
        base = min(t - k * interval for t, k in zip(times, steps, strict=True))
        found += [
            (base + k * interval, t - base - k * interval)
            for t, k in zip(times, steps, strict=True)
        ]
    return found


def p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[98]


def report(runs: list[Run], lagged: list[tuple[float, float]], idle: tuple[float, float]) -> None:
    def lag_in(start: float, end: float) -> float:
        return p99([lag for due, lag in lagged if start <= due < end])

    print(
        f"{'endpoint':<22} {'server':<14} {'rps':>8} {'p50':>8} {'p99':>8} {'lag p99':>8}"
        f" {'CPU':>5} {'wrk':>5}  goal"
    )
    for run in runs:
        lag = lag_in(run.started, run.ended)
        if run.server.startswith("opsbook"):
            met = run.rps >= GOAL_RPS and run.p99_ms < GOAL_P99_MS and lag < GOAL_LAG_S
            verdict = "met" if met else "MISSED"
        else:
            verdict = "(reference)"
        cpu = f"{run.cpu:.0%}" if run.cpu is not None else "-"
        if run.errors:
            verdict += f", {run.errors} failed requests"
        print(
            f"{run.endpoint:<22} {run.server:<14} {run.rps:>8,.0f} {run.p50_ms:>6.2f}ms"
            f" {run.p99_ms:>6.2f}ms {lag * 1000:>6.0f}ms {cpu:>5} {run.wrk_cpu:>5.0%}  {verdict}"
        )
    print(
        f"scheduling lag p99 before the surge: {lag_in(*idle) * 1000:.0f} ms;"
        " CPU: serve's, wrk: the load generator's, each as a share of one core"
    )
    print(
        f"goals: >= {GOAL_RPS:,} rps and p99 < {GOAL_P99_MS:g} ms for both opsbook endpoints,"
        f" scheduling lag p99 < {GOAL_LAG_S:g} s during their surge"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="each wrk run")
    parser.add_argument("--checks", type=int, default=1_000)
    parser.add_argument("--interval", type=int, default=10, help="seconds between a check's runs")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: scripts/ensure-system bench installs it")
    with tempfile.TemporaryDirectory(prefix="opsbook-bench-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        root.chmod(0o755)  # nginx's worker (nobody) reads the export inside
        if args.store == "postgresql":
            store_url = stack.enter_context(TempCluster.start()).create_database("state")
        else:
            store_url = f"sqlite:///{root / 'state.db'}"
        target_log = root / "arrivals.log"
        server = TARGET_SERVER.format(log=target_log)
        target = stack.enter_context(nginx(root / "target", server=server, http=TARGET_HTTP))
        config = write_config(root, store_url, args.checks, args.interval, target)
        store = open_store(store_url)
        seed(store, dt.datetime.now(dt.UTC), random.Random(14))
        store.close()
        site = root / "site"
        subprocess.run(opsbook(config, "status", "export", str(site)), check=True)
        static_server = STATIC_SERVER.format(site=site)
        static = stack.enter_context(nginx(root / "static", server=static_server))
        url, pid = stack.enter_context(serving(config, root / "serve.log"))
        idle_from = time.time()
        time.sleep(args.interval * 1.5)  # every check runs once before the surge
        idle = (idle_from + args.interval, time.time())
        page = httpx.get(f"{url}/status").content
        print(
            f"store {args.store}, {args.checks:,} checks every {args.interval}s,"
            f" /status {len(page) / 1000:.0f} KB, load average {os.getloadavg()[0]:.2f}"
        )
        runs = [
            surge("/status", "opsbook serve", f"{url}/status", args, pid),
            surge("/api/v2/summary.json", "opsbook serve", f"{url}/api/v2/summary.json", args, pid),
        ]
        time.sleep(args.interval)  # the runs due during the surge reach the log
        static_url = f"http://127.0.0.1:{static}"
        runs += [
            surge("/status", "nginx static", f"{static_url}/index.html", args),
            surge(
                "/api/v2/summary.json", "nginx static", f"{static_url}/api/v2/summary.json", args
            ),
        ]
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        report(runs, lags(arrivals(target_log), args.interval), idle)


if __name__ == "__main__":
    main()
