"""Goals (issue 13): with `opsbook serve` running against a local fake PagerDuty,
- from an incident opening to its first delivery at PagerDuty: p99 <= 1 s over 200 P0s;
- draining 10,000 queued messages to a fake answering 202: >= 500 deliveries/s;
- draining them to a fake answering 429 with `Retry-After: 1` half the time: none lost,
  none duplicated.

The fake is an aiohttp server in this process (a thread of its own); serve is a real
subprocess on its own SQLite store. Counts are small-able: --incidents, --messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from opsbook.clock import SYSTEM_CLOCK
from opsbook.config import load_config
from opsbook.incidents import service as incidents
from opsbook.notify import service as notify
from opsbook.postgres.cluster import free_port
from opsbook.store import open_store

KEY = "B" * 32


class FakePagerDuty:
    """202 to every event (or 429 + Retry-After: 1 with probability `throttle`); records
    when each dedup_key first arrived and how often it was accepted."""

    def __init__(self, throttle: float = 0.0) -> None:
        self.throttle, self.rng = throttle, random.Random(7)
        self.first: dict[str, float] = {}
        self.accepted: Counter[str] = Counter()
        self.throttled = 0
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        self.ready.wait(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v2/enqueue", self._enqueue)
        runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()

    async def _enqueue(self, request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        if self.rng.random() < self.throttle:
            self.throttled += 1
            return web.json_response(
                {"status": "throttle"}, status=429, headers={"Retry-After": "1"}
            )
        key = event["dedup_key"]
        self.first.setdefault(key, time.monotonic())
        self.accepted[key] += 1
        body = {"status": "success", "message": "Event processed", "dedup_key": key}
        return web.json_response(body, status=202)


def write_config(root: Path, fake: FakePagerDuty) -> Path:
    path = root / "opsbook.yaml"
    path.write_text(
        f"store:\n  url: sqlite:///{root / 'opsbook.db'}\n"
        "notify:\n  channels:\n"
        f"    - {{name: pd, kind: pagerduty, routing_key: {KEY},"
        f" events_url: 'http://127.0.0.1:{fake.port}/v2/enqueue'}}\n"
    )
    return path


def start_serve(config: Path) -> subprocess.Popen[bytes]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "opsbook", "--config", str(config), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("serve did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=60)


def latency(root: Path, count: int) -> None:
    fake = FakePagerDuty()
    config_path = write_config(root, fake)
    config = load_config(config_path)
    store = open_store(config.store.url.reveal())
    notify.attach(store, config)
    serve = start_serve(config_path)
    opened: dict[str, float] = {}
    try:
        for n in range(count):
            with store.session() as session:
                incident = incidents.open_incident(
                    session, title=f"outage {n}", severity="P0", actor="bench", clock=SYSTEM_CLOCK
                )
                number = incident.id
            opened[f"opsbook-incident-{number}"] = time.monotonic()  # committed now
            time.sleep(random.uniform(0, 0.02))
        deadline = time.monotonic() + 60
        while len(fake.first) < count and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop(serve)
        store.close()
    waits = sorted(fake.first[k] - t for k, t in opened.items() if k in fake.first)
    p50 = statistics.median(waits)
    p99 = waits[min(len(waits) - 1, int(len(waits) * 0.99))]
    print(
        f"open -> first delivery at PagerDuty, {len(waits)}/{count} incidents:"
        f" p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {waits[-1] * 1000:.0f} ms"
        f" (goal p99 <= 1000 ms)"
    )


def queue(config_path: Path, count: int) -> None:
    config = load_config(config_path)
    store = open_store(config.store.url.reveal())
    try:
        for start in range(0, count, 1000):
            with store.session() as session:
                for n in range(start, min(start + 1000, count)):
                    payload: dict[str, Any] = {
                        "project": "bench",
                        "incident": {"id": n, "key": f"m-{n}", "title": f"m {n}", "severity": "P0"},
                    }
                    notify.enqueue(
                        session,
                        channel="pd",
                        kind="trigger",
                        incident_id=None,
                        payload=payload,
                        clock=SYSTEM_CLOCK,
                    )
    finally:
        store.close()


def drain(root: Path, count: int, throttle: float) -> None:
    fake = FakePagerDuty(throttle)
    config_path = write_config(root, fake)
    queue(config_path, count)
    serve = start_serve(config_path)
    started = time.monotonic()
    try:
        deadline = started + 600
        while len(fake.accepted) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # anything sent twice would arrive now
    finally:
        stop(serve)
    arrivals = sorted(fake.first.values())
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else float("nan")
    duplicated = sum(1 for n in fake.accepted.values() if n > 1)
    lost = count - len(fake.accepted)
    what = f"429 + Retry-After: 1 on {throttle:.0%} of attempts" if throttle else "202"
    print(
        f"drain {count} queued messages, fake answering {what}: {len(fake.accepted)} delivered"
        f" in {span:.1f} s = {len(arrivals) / span:.0f}/s; lost {lost}, duplicated {duplicated}"
        f", 429s answered {fake.throttled}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        runs: list[tuple[str, Callable[[Path], None]]] = [
            ("latency", lambda r: latency(r, args.incidents)),
            ("drain", lambda r: drain(r, args.messages, 0.0)),
            ("throttled", lambda r: drain(r, args.messages, 0.5)),
        ]
        for name, run in runs:
            (root / name).mkdir()
            run(root / name)


if __name__ == "__main__":
    main()
