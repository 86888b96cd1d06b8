"""Goal: one Alertmanager group of 8,000 alerts (about 1.4 MB) posted to opsbook's web app on
SQLite is stored in seconds, and meanwhile /healthz answers and a person's
`incident open --sev P0` gets through at once (issue #12: 66 s, /healthz silent for 5 s, the
P0 failed with "database is locked" after 31 s).

Runs the web app (what `opsbook serve` runs) on a throwaway SQLite store, posts the group,
and while it is being stored asks /healthz every 50 ms and opens a P0 through the CLI's
store. Prints how long the post took, the slowest /healthz answer, and how long the P0 took.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from opsbook.clock import SYSTEM_CLOCK
from opsbook.config import Config
from opsbook.incidents import service as incidents
from opsbook.sandbox.alertmanager import alert_group
from opsbook.serving import BackgroundServer
from opsbook.store import open_store
from opsbook.store.turns import Patience
from opsbook.web.app import create_app

TOKEN = "bench-token-123456"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def healthz_times(url: str, stop: threading.Event) -> list[float]:
    """Seconds each /healthz took while the group was being stored."""
    times: list[float] = []
    with httpx.Client(timeout=120) as client:
        while not stop.is_set():
            started = time.monotonic()
            client.get(f"{url}/healthz").raise_for_status()
            times.append(time.monotonic() - started)
            stop.wait(0.05)
    return times


def open_p0(store_url: str) -> float:
    """Seconds a person's P0 took to be recorded (a CLI command's store, as `incident open`)."""
    store = open_store(store_url, waiting=Patience(lambda: None))
    started = time.monotonic()
    with store.session() as session:
        incidents.open_incident(
            session, title="checkout is down", severity="P0", actor="bench", clock=SYSTEM_CLOCK
        )
    took = time.monotonic() - started
    store.close()
    return took


def burst(root: Path, count: int, p0_after: float) -> dict[str, Any]:
    store_url = f"sqlite:///{root / f'burst-{count}.db'}"
    config = Config.model_validate(
        {
            "store": {"url": store_url},
            "alertmanager": {"token": TOKEN},
            "serve": {"max_body": 64 << 20},
        }
    )
    store = open_store(store_url)
    web = BackgroundServer(create_app(config, store, clock=SYSTEM_CLOCK, schedule=False)).start()
    body = alert_group(count)
    stop = threading.Event()
    health: list[float] = []
    prober = threading.Thread(target=lambda: health.extend(healthz_times(web.url, stop)))
    p0: list[float] = []
    person = threading.Timer(p0_after, lambda: p0.append(open_p0(store_url)))
    try:
        prober.start()
        person.start()
        started = time.monotonic()
        answer = httpx.post(
            f"{web.url}/api/v1/alertmanager", json=body, headers=HEADERS, timeout=600
        )
        took = time.monotonic() - started
        answer.raise_for_status()
    finally:
        person.join()
        stop.set()
        prober.join()
        web.stop()
        store.close()
    return {
        "post_s": took,
        "alerts_per_s": count / took,
        "healthz_max_s": max(health, default=float("nan")),
        "healthz_median_s": statistics.median(health) if health else float("nan"),
        "p0_s": p0[0] if p0 else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=8000)
    parser.add_argument("--p0-after", type=float, default=1.0, help="seconds into the post")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = burst(Path(tmp), args.alerts, args.p0_after)
    size = len(json.dumps(alert_group(args.alerts)))
    print(f"alerts posted:     {args.alerts:,} in one group ({size / 1e6:.1f} MB)")
    print(f"post took:         {figures['post_s']:.2f} s ({figures['alerts_per_s']:,.0f} alerts/s)")
    print(
        f"/healthz meanwhile: median {figures['healthz_median_s'] * 1000:.0f} ms, "
        f"slowest {figures['healthz_max_s'] * 1000:.0f} ms"
    )
    print(f"P0 opened {args.p0_after:g} s in: recorded after {figures['p0_s']:.2f} s")


if __name__ == "__main__":
    main()
