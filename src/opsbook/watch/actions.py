"""`watch.check` and `watch.statuspage` for runbooks: the seed's "visit https://status..."
and "check SPF/DKIM DNS records" become the checks `opsbook check` runs (runner.py), so a
step and the watch judge a provider's page or a domain's records the same way.

A result that is not "ok" fails the step with the check's own summary: whether the run
goes on is the runbook's `on_fail`, as for any finding.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, model_validator

from opsbook.config.checks import CheckBase, StatuspageCheck
from opsbook.runbooks.actions import Action, ActionContext, ActionFailed, ActionInputs, Registry
from opsbook.watch.result import CheckResult
from opsbook.watch.runner import KINDS, run_checks


class CheckInputs(ActionInputs):
    """A configured check by `name`, or every configured check of one `kind`."""

    name: str | None = Field(default=None, max_length=200)
    kind: str | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _one(self) -> CheckInputs:
        if (self.name is None) == (self.kind is None):
            raise ValueError("give exactly one of name or kind")
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {', '.join(sorted(KINDS))}")
        return self


class StatuspageInputs(ActionInputs):
    """A provider's status page: the configured `statuspage` check of that provider, else
    the page at `url` (the seed's address)."""

    provider: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=1, max_length=2000)


def _run(context: ActionContext, checks: list[CheckBase]) -> dict[str, Any]:
    results = asyncio.run(run_checks(context.config, checks, clock=context.clock))
    output: dict[str, Any] = {
        "results": [_shown(r) for r in results],
        "state": _worst(results),
        "summary": "; ".join(r.summary for r in results),
    }
    if output["state"] != "ok":
        raise ActionFailed(output["summary"], output)
    return output


def _shown(result: CheckResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "kind": result.kind,
        "state": result.state,
        "summary": result.summary,
        "details": result.details,
    }


_ORDER = ("ok", "degraded", "down", "error")


def _worst(results: list[CheckResult]) -> str:
    return max((r.state for r in results), key=_ORDER.index, default="ok")


def _configured(context: ActionContext, inputs: CheckInputs) -> list[CheckBase]:
    if inputs.name is not None:
        return [c for c in context.config.checks if c.name == inputs.name]
    return [c for c in context.config.checks if getattr(c, "kind", None) == inputs.kind]


def _check(context: ActionContext, inputs: CheckInputs) -> dict[str, Any]:
    checks = _configured(context, inputs)
    if not checks:
        wanted = f"named {inputs.name!r}" if inputs.name else f"of kind {inputs.kind}"
        raise ActionFailed(f"no check {wanted} in the config's checks: add one to run this step")
    return _run(context, checks)


def provider_check(context: ActionContext, inputs: StatuspageInputs) -> StatuspageCheck:
    """The config's check of this provider (its URL may be a mirror or a test's), else
    one made from the step's URL."""
    wanted = inputs.provider.casefold()
    for check in context.config.checks:
        if isinstance(check, StatuspageCheck) and check.provider.casefold() == wanted:
            return check
    try:
        return StatuspageCheck(
            name=f"{inputs.provider} status",
            kind="statuspage",
            provider=inputs.provider,
            url=inputs.url,
        )
    except ValueError as exc:
        raise ActionFailed(f"url: {exc}") from None


def _statuspage(context: ActionContext, inputs: StatuspageInputs) -> dict[str, Any]:
    check = provider_check(context, inputs)
    return {"url": check.url, **_run(context, [check])}


def register(registry: Registry) -> None:
    registry.register(
        Action(
            "watch.check",
            "Run configured checks (by name, or every one of a kind) once; not ok fails.",
            CheckInputs,
            _check,
            lambda i: f"run the check {i.name}" if i.name else f"run every {i.kind} check",
        )
    )
    registry.register(
        Action(
            "watch.statuspage",
            "Read a provider's status page (its configured check, else the URL given).",
            StatuspageInputs,
            _statuspage,
            lambda i: f"read {i.provider}'s status page",
        )
    )
