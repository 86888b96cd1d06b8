"""`watch.statuspage` and `watch.check` as runbook steps: the config's check first, the
step's URL otherwise; a page not ok fails the step in the provider's words; a hostile
provider name or URL is data, refused or shown, never run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.registry import default_registry
from opsbook.runbooks.actions import ActionContext, ActionFailed
from opsbook.store import open_store
from tests.watch.fakes import FakeStatusPages, statuspage_component, statuspage_summary

HOSTILE = "Acme [/x] \x1b[2J ; rm -rf / $(touch pwned) 'q\""


@pytest.fixture
def context(tmp_path: Path) -> Iterator[ActionContext]:
    store = open_store(f"sqlite:///{tmp_path / 'o.db'}")
    yield ActionContext(Config(), store, FrozenClock(), "alice", timeout=10)
    store.close()


def _run(context: ActionContext, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    action = default_registry().get(name)
    return action.run(context, action.inputs.model_validate(inputs))


def test_the_steps_url_is_read_when_no_check_names_the_provider(
    context: ActionContext, status_pages: tuple[FakeStatusPages, str]
) -> None:
    fake, url = status_pages
    fake.pages["acme"] = ("statuspage", statuspage_summary(
        "major", "Major outage", [statuspage_component("API", "major_outage")], []
    ))  # fmt: skip
    with pytest.raises(ActionFailed) as failed:
        _run(context, "watch.statuspage", {"provider": HOSTILE, "url": f"{url}/acme"})
    assert failed.value.output["state"] == "down"
    assert str(failed.value).startswith(HOSTILE)  # the name as given: data, shown as text
    fake.pages["acme"] = ("statuspage", statuspage_summary(
        "none", "All Systems Operational", [statuspage_component("API", "operational")], []
    ))  # fmt: skip
    ok = _run(context, "watch.statuspage", {"provider": "Acme", "url": f"{url}/acme"})
    assert ok["state"] == "ok" and ok["url"] == f"{url}/acme"


@pytest.mark.parametrize("url", ["$(touch pwned)", "file:///etc/passwd", "javascript:x"])
def test_a_url_that_is_no_status_page_is_refused(
    context: ActionContext, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ActionFailed, match="is not a status page URL"):
        _run(context, "watch.statuspage", {"provider": "x", "url": url})
    assert not (tmp_path / "pwned").exists()


def test_watch_check_needs_one_of_name_or_kind_and_a_configured_check(
    context: ActionContext,
) -> None:
    inputs = default_registry().get("watch.check").inputs
    for bad in ({}, {"name": "a", "kind": "dns"}, {"kind": "dns; rm -rf /"}, {"name": "x" * 201}):
        with pytest.raises(ValidationError):
            inputs.model_validate(bad)
    with pytest.raises(ActionFailed, match="no check of kind dns"):
        _run(context, "watch.check", {"kind": "dns"})
