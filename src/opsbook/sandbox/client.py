"""Talk to a running sandbox's fault switches over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp


class SandboxUnreachable(RuntimeError):
    pass


async def _call(method: str, url: str, token: str, body: Any | None) -> tuple[int, Any]:
    timeout = aiohttp.ClientTimeout(total=30)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, url, json=body, headers=headers) as response,
        ):
            try:
                data = await response.json(content_type=None)
            except ValueError:
                data = {"error": await response.text()}
            return response.status, data
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SandboxUnreachable(f"cannot reach the sandbox at {url}: {exc}") from None


def faults_call(
    base_url: str, token: str, method: str, name: str | None = None, value: Any | None = None
) -> tuple[int, Any]:
    url = base_url.rstrip("/") + "/_sandbox/faults" + (f"/{name}" if name else "")
    body = {"value": value} if method == "PUT" else None
    return asyncio.run(_call(method, url, token, body))


def deploy_call(base_url: str, token: str, commit: str, broken: str | None) -> tuple[int, Any]:
    url = base_url.rstrip("/") + "/_sandbox/deploy"
    return asyncio.run(_call("PUT", url, token, {"commit": commit, "broken": broken}))
