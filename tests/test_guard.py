"""The guard every destructive command goes through: the plan is shown, the act runs only
with --yes or a yes typed at a real terminal, and anything else changes nothing."""

from __future__ import annotations

import io
import os
import pty
import sys
from collections.abc import Callable, Iterator

import pytest
import typer

from opsbook.guard import Outcome, guarded

Answer = Callable[[str], None]


class Recorder:
    """A plan's show and act that only note they ran: the guard is what is under test."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.acted: list[str] = []

    def show(self, plan: str) -> None:
        self.shown.append(plan)

    def act(self, plan: str) -> str:
        self.acted.append(plan)
        return f"did {plan}"

    def guard(self, **options: bool) -> Outcome[str]:
        return guarded("plan", show=self.show, act=self.act, to="move the rows", **options)


@pytest.fixture
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Answer]:
    """A real pseudo-terminal on stdin; the test types its answer into the other end."""
    main, other = pty.openpty()

    def type_in(text: str) -> None:
        os.write(main, text.encode())

    with os.fdopen(other, "r") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        yield type_in
    os.close(main)


def test_yes_shows_the_plan_then_acts(no_terminal: None) -> None:
    run = Recorder()
    outcome = run.guard(yes=True)
    assert (run.shown, run.acted) == (["plan"], ["plan"])
    assert (outcome.result, outcome.acted, outcome.dry_run) == ("did plan", True, False)


def test_without_a_terminal_it_is_a_dry_run_that_says_how_to_go_ahead(
    no_terminal: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Recorder()
    outcome = run.guard()
    assert run.shown == ["plan"] and run.acted == []
    assert (outcome.result, outcome.acted, outcome.dry_run) == (None, False, True)
    assert capsys.readouterr().err == "dry run: pass --yes to move the rows\n"


@pytest.mark.parametrize(
    ("options", "dry_run"),
    [({"dry_run": True, "yes": True}, True), ({"needed": False, "yes": True}, False)],
)
def test_a_dry_run_or_nothing_to_do_never_acts(
    no_terminal: None, options: dict[str, bool], dry_run: bool
) -> None:
    run = Recorder()
    outcome = run.guard(**options)
    assert run.shown == ["plan"] and run.acted == []
    assert (outcome.acted, outcome.dry_run) == (False, dry_run)


def test_what_needs_no_approval_acts_without_yes(no_terminal: None) -> None:
    run = Recorder()
    assert run.guard(ask=False).acted and run.acted == ["plan"]


def test_a_yes_typed_at_the_terminal_acts(terminal: Answer) -> None:
    run = Recorder()
    terminal("y\n")
    assert run.guard().acted and run.acted == ["plan"]


def test_a_no_typed_at_the_terminal_stops_with_nothing_changed(
    terminal: Answer, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Recorder()
    terminal("n\n")
    with pytest.raises(typer.Exit) as stopped:
        run.guard()
    assert stopped.value.exit_code == 1 and run.acted == []
    shown = capsys.readouterr()
    assert "Move the rows? [y/N]" in shown.out
    assert "nothing was changed" in shown.err
