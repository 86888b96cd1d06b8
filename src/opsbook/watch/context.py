"""What a check needs to run: one shared HTTP session, the config, the clock."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from opsbook.clock import Clock
from opsbook.config import Config

USER_AGENT = "opsbook-watch/0.1"


@dataclass
class CheckContext:
    session: aiohttp.ClientSession
    config: Config
    clock: Clock


def new_session(limit: int = 100) -> aiohttp.ClientSession:
    # One session for many checks: connection reuse is most of the speed (DESIGN: aiohttp).
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300)
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})
