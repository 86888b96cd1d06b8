"""The action registry: how a runbook step reaches any domain.

A domain exposes what it can do as named actions with typed inputs and structured
outputs; `opsbook.registry.default_registry()` gathers them. Anything a domain can do,
a runbook can do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.store import Store


class ActionInputs(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# How templates may enter an input field (see runbooks/inputs.py), as `json_schema_extra`.
LITERAL: dict[str, Any] = {"template": "literal"}
SHELL: dict[str, Any] = {"template": "shell"}


def template_kind(inputs: type[ActionInputs], key: str) -> str:
    for name, info in inputs.model_fields.items():
        if key in (name, info.alias):
            extra = info.json_schema_extra
            return str(extra.get("template", "text")) if isinstance(extra, dict) else "text"
    return "text"


class ActionFailed(Exception):
    """The action ran and did not succeed; `output` holds what it saw."""

    def __init__(self, message: str, output: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.output = output or {}


@dataclass
class ActionContext:
    config: Config
    store: Store
    clock: Clock
    actor: str
    timeout: float
    incident_id: int | None = None
    secrets: list[str] = field(default_factory=list)
    run_label: str = ""
    # The run and step acting: a key naming them makes a resumed step's effect happen once.
    run_id: int | None = None
    step_id: str | None = None
    # Told the pid of a process the action starts, so that a resume can see it is alive.
    on_process: Callable[[int], None] = lambda _pid: None


def _reads_only(_inputs: Any) -> bool:
    return False


@dataclass(frozen=True)
class Action:
    name: str
    summary: str
    inputs: type[ActionInputs]
    run: Callable[[ActionContext, Any], dict[str, Any]]
    describe: Callable[[Any], str]
    destructive: bool = False
    # Whether these inputs change something outside opsbook; such steps are audited.
    writes: Callable[[Any], bool] = _reads_only
    # Checks the inputs against the config before a run or dry-run (ValueError: why not),
    # so a step that cannot work is refused before any step acts.
    check: Callable[[Config, Any], None] | None = None
    # Whether these inputs move an incident or speak to customers: a person says yes
    # first (or --yes), as for a destructive action.
    asks: Callable[[Any], bool] = _reads_only
    # Why the step should not act at all, read just before it would: a runbook run late
    # must not move an incident that is further along back ("incident 1 is already
    # monitoring"). None: act.
    stale: Callable[[ActionContext, Any], str | None] | None = None
    # What the step would do now, in numbers, read just before a person is asked ("ends 4
    # sessions; 12 of 97 connections in use"): `describe` says it from the inputs only.
    preview: Callable[[ActionContext, Any], str] | None = None

    @property
    def may_ask(self) -> bool:
        """Whether some inputs make it ask (a plan that cannot read them yet says so)."""
        return self.destructive or self.asks is not _reads_only


class Registry:
    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def register(self, action: Action) -> None:
        if action.name in self._actions:
            raise ValueError(f"action {action.name!r} is registered twice")
        self._actions[action.name] = action

    def get(self, name: str) -> Action:
        return self._actions[name]

    def __contains__(self, name: object) -> bool:
        return name in self._actions

    def names(self) -> list[str]:
        return sorted(self._actions)
