"""One operation, two doors: `opsbook incident ...` and a runbook step `uses: incident.*`
call the same service function, so they accept and refuse the same things, each naming
inputs in its own words. Where the two copies once disagreed, the safer behaviour is the
one both now have, and it is tested here through both."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.context import AppContext
from opsbook.registry import default_registry
from opsbook.runbooks.actions import ActionContext
from opsbook.store import Store


class Doors:
    """The real CLI over one store, and one-step runbooks run through `opsbook runbook run`."""

    def __init__(self, root: Path, store_url: str, clock: FrozenClock) -> None:
        self.books = root / "books"
        self.books.mkdir()
        self.config = root / "opsbook.yaml"
        self.config.write_text(f"store:\n  url: {store_url}\nrunbooks:\n  paths: [books]\n")
        self.clock = clock
        self._names = itertools.count(1)

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(
            app, ["--config", str(self.config), *args], obj=AppContext(clock=self.clock)
        )

    def ok(self, *args: str) -> Any:
        result = self.cli(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def refused(self, *args: str) -> str:
        result = self.cli(*args)
        assert result.exit_code == 2, result.output
        return " ".join(result.output.split())  # as one line, wherever Rich wrapped it

    def step(self, uses: str, incident: int | None = None, **inputs: Any) -> dict[str, Any]:
        """Run a runbook of one step, `uses:` with `inputs`; its step record."""
        name = f"step-{next(self._names)}"
        step: dict[str, Any] = {"id": "it", "title": uses, "uses": uses}
        if inputs:
            step["with"] = inputs
        book = {"name": name, "title": name, "steps": [step]}
        (self.books / f"{name}.yaml").write_text(yaml.safe_dump(book))
        where = ["--incident", str(incident)] if incident is not None else []
        # A step that moves an incident asks first (the engine's part, tested in
        # tests/runbooks): approved here, where the operation behind it is compared.
        result = self.cli("runbook", "run", name, *where, "--yes", "--json")
        [record] = json.loads(result.stdout)["steps"]
        assert result.exit_code == (1 if record["status"] == "failed" else 0), result.output
        return dict(record)

    def open(self, severity: str = "P1") -> int:
        return int(self.ok("incident", "open", "--sev", severity, "--title", "Login fails")["id"])

    def moves(self, number: int) -> list[str]:
        timeline = self.ok("incident", "show", str(number))["timeline"]
        return [e["data"]["to"] for e in timeline if e["kind"] == "status"]


@pytest.fixture
def doors(
    tmp_path: Path, store_url: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> Doors:
    monkeypatch.setenv("OPSBOOK_ACTOR", "alice")
    return Doors(tmp_path, store_url, clock)


def test_acknowledging_an_incident_someone_already_took(doors: Doors) -> None:
    """The terminal refuses (a second responder learns someone is on it); a runbook step
    leaves it as it is, says so, and goes on. Both read the status under the row lock."""
    number = doors.open()
    acked = doors.step("incident.acknowledge", number, message="on it")["output"]
    assert (acked["acknowledged"], acked["status"]) == (True, "acknowledged")
    assert "incident #1 is already acknowledged" in doors.refused("incident", "ack", "1")
    again = doors.step("incident.acknowledge", number)
    assert (again["status"], again["error"]) == ("skipped", "incident 1 is already acknowledged")
    assert doors.moves(number) == ["acknowledged"]


def test_acknowledge_steps_racing_each_other_never_fail(
    doors: Doors, store: Store, clock: FrozenClock
) -> None:
    """Four runs acknowledging one incident at once: one acknowledges, three leave it, none
    fails. (The step once read the status without the lock, then acknowledged under it: a
    run losing that race failed with "already acknowledged" and stopped its procedure.)"""
    number = doors.open("P0")
    action = default_registry().get("incident.acknowledge")
    start = threading.Barrier(4)
    outputs: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def run(actor: str) -> None:
        context = ActionContext(
            config=Config(), store=store, clock=clock, actor=actor, timeout=30, incident_id=number
        )
        start.wait()
        try:
            outputs.append(action.run(context, action.inputs.model_validate({})))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"run-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(o["acknowledged"] for o in outputs) == [False, False, False, True]
    assert doors.moves(number) == ["acknowledged"]


def test_an_update_with_nothing_to_say(doors: Doors) -> None:
    number = doors.open()
    assert "give --status, --message, or both" in doors.refused("incident", "update", "1")
    step = doors.step("incident.update", number)
    assert (step["status"], step["error"]) == ("failed", "give status, message, or both")


def test_the_same_status_again_needs_a_message(doors: Doors) -> None:
    number = doors.open()
    doors.ok("incident", "update", "1", "--status", "identified", "--message", "bad deploy")
    refusal = "incident #1 is already identified; give {} to post an update"
    shown = doors.refused("incident", "update", "1", "--status", "identified")
    assert refusal.format("--message") in shown
    step = doors.step("incident.update", number, status="identified")
    assert step["error"] == refusal.format("message")


def test_an_update_cannot_resolve(doors: Doors) -> None:
    number = doors.open()
    shown = doors.refused("incident", "update", "1", "--status", "resolved")
    assert "to resolve, use opsbook incident resolve, which first checks" in shown
    step = doors.step("incident.update", number, status="resolved")
    assert step["error"] == (
        "to resolve, use incident.resolve, which first checks that the fix has held"
    )


def test_resolving_before_the_fix_has_held(doors: Doors) -> None:
    number = doors.open()
    doors.ok("incident", "update", "1", "--status", "monitoring", "--message", "rolled back")
    doors.clock.advance(dt.timedelta(minutes=6))
    shown = doors.refused("incident", "resolve", "1")
    assert "monitoring for 6 min of the 15 min" in shown
    assert "Pass --force to resolve now; that is noted on the timeline" in shown
    early = doors.step("incident.resolve", number)
    assert early["status"] == "failed"
    assert "Pass force: true to resolve now; that is noted on the timeline" in early["error"]
    assert doors.moves(number) == ["monitoring"]
    forced = doors.step("incident.resolve", number, force=True, message="all clear")
    assert forced["output"]["status"] == "resolved"
    timeline = doors.ok("incident", "show", "1")["timeline"]
    resolved = [e for e in timeline if e["kind"] == "status"][-1]
    assert resolved["data"]["forced"] is True and resolved["text"].startswith("all clear")


def test_opening_takes_the_first_update_through_either_door(doors: Doors) -> None:
    """A runbook step could not give the first update before; both doors take it now."""
    message = "Checkout is failing for some cards"
    doors.ok(
        "incident", "open", "--sev", "P1", "--title", "Checkout errors",
        "--message", message, "--public",
    )  # fmt: skip
    step = doors.step(
        "incident.open", title="Checkout errors", severity="P1", message=message, public=True
    )
    assert (step["output"]["incident_id"], step["output"]["status"]) == (2, "open")

    def opened(number: int) -> tuple[str, bool, dict[str, Any]]:
        first = doors.ok("incident", "show", str(number))["timeline"][0]
        return first["text"], first["public"], first["data"]

    assert opened(1) == opened(2)
    assert opened(2)[:2] == (message, True)
