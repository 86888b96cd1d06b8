"""One scheduler round in a process of its own, for the two-scheduler test:
`python -m tests.routines.claimer CONFIG NOW GO` prints `ready`, waits until the file GO
exists (so that the processes start their rounds together), ticks at NOW, prints how
many routine runs it started."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

from opsbook.clock import FrozenClock
from opsbook.config import load_config
from opsbook.registry import default_registry
from opsbook.routines import service
from opsbook.store import open_store


def main() -> None:
    config_path, now, go = sys.argv[1:]
    config = load_config(Path(config_path))
    store = open_store(config.store.url.reveal(), base_dir=config.base_dir)
    clock = FrozenClock(dt.datetime.fromisoformat(now))
    print("ready", flush=True)
    while not Path(go).exists():  # a starting line, not a wait for an outcome
        time.sleep(0.002)
    started = service.tick(store, config, default_registry(), clock=clock)
    print(len(started), flush=True)
    store.close()


if __name__ == "__main__":
    main()
