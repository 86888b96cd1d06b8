"""Every printing command at 80 columns (issue #17, item 7): what a person types next (a
check's name, a runbook's, an id) is shown whole on one line, and no word is broken.

The commands are found by walking the CLI tree: a new command fails
`test_every_command_is_classified` until it is listed here as printing (with the
arguments it needs) or as acting.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import load_config
from opsbook.console import console, err
from opsbook.context import AppContext
from opsbook.incidents import service as incidents
from opsbook.store import open_store
from opsbook.watch import service
from opsbook.watch.result import CheckResult

T0 = dt.datetime(2026, 11, 27, 9, 51, tzinfo=dt.UTC)
APP = "http://127.0.0.1:9"
CHECKS = [
    "checkout-webhook-delivery-from-stripe-to-the-billing-service",
    "api-health-endpoint-answers-within-the-latency-budget-always",
    "database-connections-stay-below-eighty-percent-of-the-limit",
]
RUNBOOK = "when-the-checkout-webhook-stops-arriving-replay-from-stripe"
TITLE = "Checkout webhooks from Stripe stopped arriving after the deploy of commit abc1234"
TYPED = [*CHECKS, RUNBOOK]

# Printing commands and the arguments they need (the store holds incident 1).
PRINTING: dict[tuple[str, ...], list[str]] = {
    ("status",): [],
    ("status", "--all"): [],
    ("history",): [],
    ("incident", "severities"): [],
    ("incident", "list"): [],
    ("incident", "show"): ["1"],
    ("incident", "stats"): [],
    ("incident", "actions", "list"): [],
    ("incident", "actions"): ["1"],
    ("runbook", "list"): [],
    ("runbook", "show"): [RUNBOOK],
    ("runbook", "runs"): [],
    ("runbook", "suggest"): ["--incident", "1"],
    ("oncall", "now"): [],
    ("oncall", "schedule"): [],
    ("oncall", "overrides"): [],
    ("oncall", "escalation"): [],
    ("oncall", "checks"): [],
    ("store", "status"): [],
    ("audit", "list"): [],
    ("audit", "verify"): [],
    ("maintenance", "list"): [],
    ("maintenance", "routines"): [],
    ("maintenance", "due"): [],
    ("maintenance", "history"): [],
    ("notify", "outbox"): [],
    ("backup", "list"): [],
    ("drill", "list"): [],
    ("deploy", "list"): [],
    ("config", "check"): [],
    # The target database's commands: here with no database.url, they say so in a line.
    ("db", "status"): [],
    ("db", "connections"): [],
    ("db", "slow"): [],
    ("db", "blocked"): [],
    ("db", "sizes"): [],
    ("db", "indexes"): [],
    ("db", "sequences"): [],
    ("db", "migrations", "status"): [],
    ("db", "views"): [],
}
# Commands that act (or serve, or write files) rather than print what is: their output is
# one verdict, covered by their own tests.
ACTING = {
    ("demo",), ("init",), ("check",), ("serve",), ("status", "export"),
    ("incident", "open"), ("incident", "ack"), ("incident", "update"), ("incident", "note"),
    ("incident", "severity"), ("incident", "resolve"), ("incident", "postmortem"),
    ("incident", "notify-customers"), ("incident", "actions", "add"),
    ("incident", "actions", "done"), ("runbook", "run"), ("runbook", "resume"),
    ("db", "idle"), ("db", "kill"), ("db", "archive"), ("db", "views", "refresh"),
    ("db", "migrations", "apply"), ("oncall", "override"), ("store", "upgrade"),
    ("sandbox", "run"), ("sandbox", "schema"), ("sandbox", "seed"), ("sandbox", "fault"),
    ("sandbox", "deploy"), ("maintenance", "schedule"), ("maintenance", "start"),
    ("maintenance", "complete"), ("maintenance", "cancel"), ("maintenance", "run"),
    ("maintenance", "rotated"), ("notify", "test"), ("notify", "retry"), ("backup", "create"),
    ("backup", "prune"), ("backup", "verify"), ("backup", "restore"), ("backup", "files"),
    ("backup", "restore-files"), ("drill",), ("deploy", "verify"), ("deploy", "rollback"),
    ("deploy", "check"), ("oncall", "check"), ("oncall", "confirm"),
}  # fmt: skip


def _leaves(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            if command.invoke_without_command:
                yield path
            yield from _leaves(command, path)
        else:
            yield path


def test_every_command_is_classified() -> None:
    found = set(_leaves(typer.main.get_command(app)))
    printing = {path for path in PRINTING if "--all" not in path}
    assert found - printing - ACTING == set()


RUNBOOK_YAML = f"""\
name: {RUNBOOK}
title: Replay Stripe's checkout webhooks that did not arrive
severity: [P1]
components: [billing]
symptoms:
  - checkout webhooks stopped arriving
steps:
  - name: Look at Stripe's dashboard for failed deliveries of the checkout webhook
    manual: Open the dashboard and count the failed deliveries since the deploy.
"""


@pytest.fixture
def short_path() -> Iterator[Path]:
    """A folder whose path fits in a line with room to spare: pytest's tmp_path (under
    xdist `/tmp/pytest-of-root/pytest-1025/popen-gw0/test_at_80_col...`) is itself over
    80 columns once a command prints the store's URL, and would be folded mid-word."""
    path = Path(tempfile.mkdtemp(prefix="ob-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def desk(short_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, FrozenClock]:
    """A store with long check names (one failing), an incident, and a long runbook."""
    tmp_path = short_path
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / f"{RUNBOOK}.yaml").write_text(RUNBOOK_YAML)
    path = tmp_path / "opsbook.yaml"
    path.write_text(
        f"store: {{url: 'sqlite:///{tmp_path / 'opsbook.db'}'}}\napp: {{url: '{APP}'}}\n"
        "checks:\n"
        + "".join(f"  - {{name: {n}, kind: http, url: '{APP}/api/health'}}\n" for n in CHECKS)
    )
    config = load_config(path)
    clock = FrozenClock(T0)
    store = open_store(config.store.url.reveal())
    results = [
        CheckResult(
            name,
            "http",
            "down" if name == CHECKS[0] else "ok",
            f"GET {APP}/api/webhooks/stripe/checkout answered 500 Internal Server Error",
            T0,
        )
        for name in CHECKS
    ]
    service.process_results(store, config, results, clock=clock)
    with store.session() as session:
        incidents.open_incident(
            session,
            title=TITLE,
            severity="P1",
            actor="alice",
            clock=clock,
            component="billing",
            symptoms=["checkout webhooks stopped arriving"],
        )
    store.close()
    monkeypatch.setattr(console, "wrap", True)  # as at a terminal
    monkeypatch.setattr(err, "wrap", True)
    # Not the `width` property: undoing it would pin 80 columns for every later test.
    monkeypatch.setattr(console, "_width", 80)
    monkeypatch.setattr(err, "_width", 80)
    clock.set(T0 + dt.timedelta(seconds=30))
    return path, clock


_BOX = re.compile(r"[│┃║|]")
_WORD = re.compile(r"[A-Za-z]{4,}")


def _words() -> set[str]:
    return {w for text in (*TYPED, TITLE, RUNBOOK_YAML) for w in _WORD.findall(text)}


def _broken_words(output: str) -> list[str]:
    """Words split across two lines: a cell's last letters on one line and the same cell's
    next letters on the next (cells are what the table's bars separate)."""
    words, broken = _words(), []
    lines = [_BOX.split(line) for line in output.splitlines()]
    for above, below in itertools.pairwise(lines):
        if len(above) != len(below):
            continue
        for left, right in zip(above, below, strict=True):
            tail = re.search(r"[A-Za-z]+$", left.rstrip())
            head = re.match(r"[A-Za-z]+", right.strip())
            token = re.search(r"\S*$", left.rstrip()), re.match(r"\S*", right.strip())
            if token[0] and token[1] and len(token[0][0] + token[1][0]) > len(left):
                continue  # longer than its line or cell (a path): folded wherever it ends
            if tail and head and left.rstrip() == left.rstrip().rstrip("-"):
                joined = tail.group(0) + head.group(0)
                if joined in words and tail.group(0) not in words:
                    broken.append(joined)
    return broken


@pytest.mark.parametrize("path", sorted(PRINTING), ids=" ".join)
def test_at_80_columns_names_stay_whole_and_words_unbroken(
    desk: tuple[Path, FrozenClock], path: tuple[str, ...]
) -> None:
    config, clock = desk
    result = CliRunner().invoke(
        app, ["--config", str(config), *path, *PRINTING[path]], obj=AppContext(clock=clock)
    )
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    for name in TYPED:
        if name[:20] in output:
            assert any(name in line for line in output.splitlines()), (name, output)
    assert _broken_words(output) == [], output
    assert all(len(line) <= 80 for line in output.splitlines()), output


def test_status_of_a_healthy_system_fits_one_screen_and_shows_paths(
    desk: tuple[Path, FrozenClock],
) -> None:
    config, clock = desk
    result = CliRunner().invoke(
        app, ["--config", str(config), "status"], obj=AppContext(clock=clock)
    )
    lines = result.output.splitlines()
    assert len(lines) <= 24, result.output
    assert "/api/webhooks/stripe/checkout" in result.output
    assert APP not in result.output  # the configured app's host is not repeated
    assert f"ok http (2): {CHECKS[1]}," in " ".join(result.output.split())
