"""The demo's scenarios, by the name `opsbook demo --scenario` takes. Each plays on a
stage already set up (stage.py) and leaves the watcher running (watching.py); a new one
is a module with a `play(stage) -> Watching` and a line here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from opsbook.demo.bad_deploy import play as bad_deploy
from opsbook.demo.outage import play as outage
from opsbook.demo.stage import Stage
from opsbook.demo.tour import play as tour
from opsbook.demo.watching import Watching


@dataclass(frozen=True)
class Scenario:
    about: str
    play: Callable[[Stage], Watching]


DEFAULT = "tour"
SCENARIOS: dict[str, Scenario] = {
    "tour": Scenario("probes, two scripted incidents, then watching", tour),
    "outage": Scenario("watch the sandbox, break its health, see the P0 open", outage),
    "bad-deploy": Scenario("a bad deploy caught at health and rolled back", bad_deploy),
}
