"""SIGTERM (`timeout`, systemd's stop, a plain `kill`) as an orderly stop rather than the
interpreter's instant death: a long command cleans up as it does on Ctrl-C. Killed
outright, a restore's `pg_restore -j` workers saw the end of their pipes and committed
the rows they had so far."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any


@contextmanager
def on_sigterm(raised: Callable[[], BaseException]) -> Iterator[None]:
    """While inside, SIGTERM raises `raised()` in the main thread; a second SIGTERM during
    the clean-up that follows is ignored (SIGKILL is what stops it outright)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(_signum: int, _frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise raised()

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def sigterm_as_ctrl_c() -> AbstractContextManager[None]:
    """SIGTERM as KeyboardInterrupt: the command's Ctrl-C clean-up runs, exit 130."""
    return on_sigterm(KeyboardInterrupt)
