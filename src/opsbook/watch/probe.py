"""What every check run shares: one HTTP session, the config, the clock.

Named for what it is: the probe's kit. `opsbook.context.AppContext` is the CLI's,
`runbooks.actions.ActionContext` a runbook step's; this one only ever reaches checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.store import Store

USER_AGENT = "opsbook-watch/0.1"


@dataclass
class ProbeContext:
    """Handed to every check's `run(check, ctx)`; one per scheduler or `opsbook check` run."""

    session: aiohttp.ClientSession
    config: Config
    clock: Clock
    # The state store, for checks that compare with what opsbook recorded (`version`
    # reads the last verified deploy); None where there is none to read.
    store: Store | None = None


def new_session(limit: int = 100) -> aiohttp.ClientSession:
    """The HTTP session every probe shares, with `limit` connections in flight."""
    # One session for many checks: connection reuse is most of the speed (DESIGN: aiohttp).
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300)
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})
