"""Goal: from the sandbox's health fault to the incident being open takes at most the
check's interval times its failure threshold, plus 1 s.

Runs a throwaway PostgreSQL, the sandbox, and opsbook's web app with its scheduler (what
`opsbook serve` runs) watching the sandbox's health; switches `health-500` on at a random
moment of the interval and prints how long the P0 took to open, over several trials.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from opsbook.clock import SYSTEM_CLOCK
from opsbook.config import Config
from opsbook.incidents import service as incidents
from opsbook.postgres.cluster import TempCluster
from opsbook.sandbox.app import create_app as sandbox_app
from opsbook.sandbox.client import faults_call
from opsbook.sandbox.schema import apply_schema
from opsbook.sandbox.settings import SandboxSettings
from opsbook.serving import BackgroundServer
from opsbook.store import open_store
from opsbook.web.app import create_app as web_app


def open_incident(store_url: str) -> bool:
    store = open_store(store_url)
    try:
        with store.session() as session:
            return bool(incidents.list_incidents(session, open_only=True))
    finally:
        store.close()


def trial(
    url: str, settings: SandboxSettings, interval: float, fail_after: int, root: Path, n: int
) -> float:
    store_url = f"sqlite:///{root / f'trial-{n}.db'}"
    config = Config.model_validate(
        {
            "store": {"url": store_url},
            "checks": [
                {
                    "name": "health",
                    "kind": "http",
                    "url": f"{url}/api/health",
                    "interval": f"{interval}s",
                    "timeout": "2s",
                    "fail_after": fail_after,
                    "severity": "P0",
                    "component": "app",
                }
            ],
        }
    )
    store = open_store(store_url)
    web = BackgroundServer(web_app(config, store, clock=SYSTEM_CLOCK)).start()
    try:
        time.sleep(interval + random.uniform(0, interval))  # fault at a random phase
        faults_call(url, settings.admin_token, "PUT", "health-500", True)
        broke = time.monotonic()
        while not open_incident(store_url):
            time.sleep(0.02)
        return time.monotonic() - broke
    finally:
        faults_call(url, settings.admin_token, "DELETE", "health-500")
        web.stop()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--fail-after", type=int, default=2)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    with TempCluster.start() as cluster, tempfile.TemporaryDirectory() as tmp:
        db = cluster.create_database("sandbox")
        apply_schema(db)
        settings = SandboxSettings(database_url=db)
        sandbox = BackgroundServer(sandbox_app(settings)).start()
        try:
            times = [
                trial(sandbox.url, settings, args.interval, args.fail_after, Path(tmp), n)
                for n in range(args.trials)
            ]
        finally:
            sandbox.stop()
    goal = args.interval * args.fail_after + 1
    print(
        f"fault -> P0 open over {args.trials} trials (interval {args.interval:g}s, fail_after"
        f" {args.fail_after}): median {statistics.median(times):.2f}s, worst {max(times):.2f}s"
        f" (goal <= {goal:g}s: {'met' if max(times) <= goal else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
