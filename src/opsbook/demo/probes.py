"""The sandbox as a visitor sees it: a few requests, each with the status it should get."""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp

from opsbook.console import Table, console, literal
from opsbook.sandbox.settings import SandboxSettings
from opsbook.sandbox.signatures import svix_sign


@dataclass
class Probe:
    what: str
    method: str
    path: str
    expect: int
    status: int | None = None
    millis: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == self.expect


def print_probes(probes: list[Probe]) -> None:
    table = Table("what", "request", "expected", "got", "ms")
    for probe in probes:
        got = "no answer" if probe.status is None else str(probe.status)
        style = "green" if probe.ok else "bold red"
        table.add_row(
            probe.what,
            f"{probe.method} {probe.path}",
            str(probe.expect),
            literal(got, style),
            f"{probe.millis:.0f}" if probe.millis else "",
        )
    console.print(table)


async def probe(app_url: str, settings: SandboxSettings, only: str | None = None) -> list[Probe]:
    probes = [
        Probe("health", "GET", "/api/health", 200),
        Probe("version", "GET", "/api/version", 200),
        *(
            Probe("page", "GET", p, 200)
            for p in ("/sign-in", "/dashboard", "/scenarios", "/settings")
        ),
        Probe("clerk webhook, unsigned", "POST", "/api/webhooks/clerk", 401),
        Probe("clerk webhook, signed", "POST", "/api/webhooks/clerk", 200),
    ]
    probes = [p for p in probes if only is None or p.what == only]
    body = b'{"type":"user.updated"}'
    signed = svix_sign(settings.clerk_webhook_secret, "msg_demo", int(time.time()), body)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for one in probes:
            headers = signed if one.what.endswith(", signed") else {}
            started = time.monotonic()
            try:
                async with session.request(
                    one.method,
                    app_url + one.path,
                    data=body if one.method == "POST" else None,
                    headers=headers,
                ) as response:
                    await response.read()
                    one.status = response.status
            except (aiohttp.ClientError, TimeoutError):
                one.status = None
            one.millis = (time.monotonic() - started) * 1000
    return probes
