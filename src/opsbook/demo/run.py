"""`opsbook demo`: set the stage, play a scenario, then keep watching until Ctrl-C (or
stop at once with --once), leaving nothing behind either way."""

from __future__ import annotations

import shutil
import tempfile
import threading
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

from opsbook import stopping
from opsbook.console import console, safe
from opsbook.demo.hints import invocation, print_hints, watch_hints
from opsbook.demo.scenarios import DEFAULT, SCENARIOS
from opsbook.demo.stage import set_up


class _Stop(Exception):
    """Raised in the main thread by SIGTERM, handled like Ctrl-C."""


def run_demo(
    *,
    database_url: str | None,
    port: int | None,
    attempts: int,
    once: bool,
    scenario: str | None = None,
) -> None:
    with _stop_on_signals(), ExitStack() as cleanup:
        state_dir = Path(tempfile.mkdtemp(prefix="opsbook-demo-"))
        cleanup.callback(shutil.rmtree, state_dir, ignore_errors=True)
        console.print(f"state directory   {safe(state_dir)}")
        try:
            stage = set_up(cleanup, state_dir, database_url, port, attempts)
            watching = SCENARIOS[scenario or DEFAULT].play(stage)
            if once:
                # Hints would name files removed a moment from now: none are printed.
                console.print("\n--once: done; without --once the demo keeps watching")
                return
            how = invocation(cwd=Path.cwd())
            print_hints(
                watch_hints(
                    config=state_dir / "opsbook.yaml",
                    app_url=stage.app_url,
                    status_page=f"{watching.url}/status",
                    how=how,
                ),
                how,
            )
            console.print("\n[bold]Ready.[/] Press Ctrl-C to stop everything.")
            threading.Event().wait()
        except (KeyboardInterrupt, _Stop):
            console.print("\nstopping...")
        finally:
            cleanup.close()
            console.print("stopped: servers ended, temporary files removed")


def _stop_on_signals() -> AbstractContextManager[None]:
    return stopping.on_sigterm(_Stop)
