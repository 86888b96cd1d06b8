"""`opsbook demo` (no scenario): the sandbox probed, two scripted incidents, then the
watcher left running, for the viewer to break the sandbox, watch opsbook see it, and fix
it, until Ctrl-C."""

from __future__ import annotations

from opsbook.console import console
from opsbook.demo.drills import run_drills
from opsbook.demo.stage import Stage
from opsbook.demo.watching import Watching, start_watching


def play(stage: Stage) -> Watching:
    run_drills(stage)
    console.print("\nfrom here opsbook watches the sandbox, as `opsbook serve` does:")
    return start_watching(stage)
