"""Goal: 10,000 http checks at a 10 s interval (1,000 checks/s) on this 2-core machine,
with p99 scheduling lag under 1 s and RSS under 300 MB; with `--status 500` the same while
every check fails at once (an alert storm: 10,000 alerts, grouped into a few incidents).

Runs opsbook's scheduler (the one `opsbook serve` runs, storing every result in the state
store: SQLite, or with `--store postgresql` a throwaway PostgreSQL) against a local nginx,
for N checks, and prints checks/s sustained, scheduling lag p50/p99 after the first cycle,
opsbook's CPU share and peak RSS.
nginx comes from Debian's packages (`scripts/ensure-system bench` installs it).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from opsbook.clock import SYSTEM_CLOCK
from opsbook.config import Config
from opsbook.postgres.cluster import TempCluster
from opsbook.store import open_store
from opsbook.watch.scheduler import Scheduler

NGINX_CONF = """
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    keepalive_requests 1000000;
    {http}
    server {{
        listen 127.0.0.1:{port};
        {server}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_nginx(root: Path, status: int) -> tuple[subprocess.Popen[bytes], int]:
    """nginx answering every path with `status` and a tiny JSON body (a check's target)."""
    word = "ok" if status == 200 else "error"
    return run_nginx(root, server=f'location / {{ return {status} \'{{"status":"{word}"}}\'; }}')


def run_nginx(root: Path, *, server: str, http: str = "") -> tuple[subprocess.Popen[bytes], int]:
    """One nginx worker on a free port of 127.0.0.1, its files in `root`; `server` and `http`
    are directives for its one server block and its http block."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    (root / "nginx.conf").write_text(
        NGINX_CONF.format(root=root, port=port, server=server, http=http)
    )
    process = subprocess.Popen([binary, "-c", str(root / "nginx.conf"), "-p", str(root)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.05)
    raise RuntimeError("nginx did not start")


async def drive(scheduler: Scheduler, seconds: float) -> tuple[int, int]:
    """Run for `seconds`; returns (checks run by then, results still waiting to be stored)."""
    stop = asyncio.Event()
    seen: list[tuple[int, int]] = []

    def halt() -> None:
        seen.append((sum(s.runs for s in scheduler.slots), len(scheduler.finished)))
        stop.set()

    asyncio.get_running_loop().call_later(seconds, halt)
    await scheduler.run(stop, tick=0.05)
    return seen[0]


def http_checks(count: int, interval: int, port: int) -> list[dict[str, Any]]:
    """`count` http checks named c0, c1, ... of the nginx on `port`, each at its own path."""
    return [
        {
            "name": f"c{i}",
            "kind": "http",
            "url": f"http://127.0.0.1:{port}/c/{i}",
            "interval": f"{interval}s",
            "timeout": "5s",
        }
        for i in range(count)
    ]


def measure(checks: int, interval: int, cycles: int, store_url: str, port: int) -> None:
    config = Config.model_validate(
        {
            "store": {"url": store_url},
            "watch": {"concurrency": 200, "jitter": 1.0},
            "checks": http_checks(checks, interval, port),
        }
    )
    store = open_store(config.store.url.reveal())
    scheduler = Scheduler(config, store, clock=SYSTEM_CLOCK)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    seconds = interval * cycles + interval * 0.5
    started = time.monotonic()
    runs, backlog = asyncio.run(drive(scheduler, seconds))
    drained = time.monotonic() - started - seconds
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    elapsed = seconds + drained
    lags = sorted(lag for s in scheduler.slots for lag in list(s.lags)[1:])  # after the first cycle
    cpu = (cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime) / elapsed
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    q = statistics.quantiles(lags, n=100) if len(lags) > 1 else [0.0] * 99
    print(
        f"{store.engine.dialect.name:<10} N={checks:>6,} interval={interval}s:"
        f" {runs / seconds:>7,.0f} checks/s over"
        f" {seconds:.0f}s, lag p50 {q[49] * 1000:.0f} ms p99 {q[98] * 1000:.0f} ms,"
        f" CPU {cpu:.0%} of a core, peak RSS {rss_mb:.0f} MB; {backlog:,} results still to"
        f" store at the end ({drained:.1f}s to drain)"
    )
    print(f"{'':10} p99 lag cycle by cycle: {per_cycle(scheduler)}")
    store.close()


def per_cycle(scheduler: Scheduler) -> str:
    """The n-th run of every check together: shows a burst (an alert storm's onset) apart
    from the steady state."""
    parts = []
    for n in range(max((len(s.lags) for s in scheduler.slots), default=0)):
        lags = [list(s.lags)[n] for s in scheduler.slots if len(s.lags) > n]
        if len(lags) * 2 < len(scheduler.slots):
            break  # a cycle the run stopped in the middle of
        p99 = statistics.quantiles(lags, n=100)[98] if len(lags) > 1 else lags[0]
        parts.append(f"{p99 * 1000:.0f} ms")
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument(
        "--store",
        choices=["sqlite", "postgresql"],
        nargs="*",
        default=["sqlite"],
        help="state store(s) to measure with; postgresql starts a throwaway cluster",
    )
    parser.add_argument(
        "--status",
        type=int,
        default=200,
        help="what nginx answers; 500 makes every check fail at once (an alert storm)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="opsbook-bench-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        nginx, port = start_nginx(root, args.status)
        cluster = stack.enter_context(TempCluster.start()) if "postgresql" in args.store else None
        try:
            for kind in args.store:
                for n in args.checks:
                    if cluster is not None and kind == "postgresql":
                        url = cluster.create_database(f"state_{n}")
                    else:
                        url = f"sqlite:///{root / f'state-{n}.db'}"
                    measure(n, args.interval, args.cycles, url, port)
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)


if __name__ == "__main__":
    main()
