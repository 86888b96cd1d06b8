"""`status.export_dir`: `opsbook serve` keeps a static copy of the status page current, so
the page a CDN serves while opsbook is down is the one from just before.

A round asks the public cache whether the view changed (the cache's own cheap probe), and
only a changed view is exported, at most once per `status.export_every` by the injected
clock: during an incident every update changes the view, and a re-export writes every
incident page. The export runs in a thread (it reads the store and fsyncs every file), one
at a time since a round awaits it. A failure (a full disk, a directory someone filled) is
logged once per distinct error, tried again after `export_every`, and never stops serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from pathlib import Path

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.status.cache import Built, PublicCache
from opsbook.status.export import export
from opsbook.store import Store

log = logging.getLogger("opsbook.status")


class ExportTask:
    def __init__(
        self, config: Config, store: Store, cache: PublicCache, *, clock: Clock, target: Path
    ) -> None:
        self.config, self.store, self.cache, self.clock = config, store, cache, clock
        self.target = target
        self.exports = 0  # finished exports (tests read it)
        self._exported: Built | None = None  # the view the files on disk show
        self._tried_at: dt.datetime | None = None
        self._last_error: str | None = None

    async def run(self, stop: asyncio.Event, *, tick: float = 1.0) -> None:
        tick = min(tick, self.config.status.export_every.total_seconds())
        while not stop.is_set():
            try:
                await self.round()
            except Exception as exc:  # the cache could not read the store: next tick
                self._failed(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)

    async def round(self) -> bool:
        """Export when the view changed and `export_every` has passed; True when it did."""
        now = self.clock.now()
        every = self.config.status.export_every
        if self._tried_at is not None and now - self._tried_at < every:
            return False
        built = await asyncio.to_thread(self.cache.current)
        if built is self._exported:
            return False
        self._tried_at = now
        try:
            await asyncio.to_thread(self._export)
        except Exception as exc:
            self._failed(exc)
            return False
        self._exported, self._last_error = built, None
        self.exports += 1
        return True

    def _export(self) -> None:
        source = self.config.source
        export(
            store=self.store,
            config=self.config,
            target=self.target,
            now=self.clock.now(),
            protected=(source,) if source is not None else (),
        )

    def _failed(self, exc: Exception) -> None:
        if str(exc) != self._last_error:
            log.warning("status export to %s failed (serve goes on): %s", self.target, exc)
        self._last_error = str(exc)
