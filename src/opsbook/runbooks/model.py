"""The runbook format: a checklist a responder can read that opsbook can also run."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from opsbook.config.durations import Timeout
from opsbook.config.models import SeverityName

STEP_KINDS = ("uses", "sql", "http", "run", "manual", "notify")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Parameter(Model):
    # `secret`: masked in every output and record, and never stored (a resume asks again).
    type: Literal["str", "int", "float", "bool", "duration", "secret"] = "str"
    default: Any = None
    required: bool = False
    description: str = ""


class HttpRequest(Model):
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    headers: dict[str, str] = {}
    json_: Any = Field(default=None, alias="json")
    body: str | None = None


class Notify(Model):
    channel: str
    message: str


class Step(Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    # Exactly one of these says what the step does.
    uses: str | None = None
    with_: dict[str, Any] = Field(default={}, alias="with")
    sql: str | None = None
    sql_params: dict[str, Any] = {}
    writes: bool = False
    http: HttpRequest | None = None
    run: str | None = None
    manual: str | None = None
    # A manual step gates the steps after it: the run pauses there until a person says it
    # is done (`resume --done`). `blocking: false` makes it a reminder the run goes past.
    blocking: bool = True
    notify: Notify | None = None
    # How it runs.
    when: str | None = None
    expect: str | list[str] | None = None
    # What a failed expectation means, in the runbook's words (a template over `output`):
    # "symptom not present: health answers {{ output.status }}".
    unmet: str | None = None
    confirm: bool = False
    on_fail: Literal["stop", "continue"] = "stop"
    timeout: Timeout = dt.timedelta(minutes=5)
    note: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        given = [k for k in STEP_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            which = ", ".join(given) if given else "none"
            raise PydanticCustomError(
                "step_kind",
                f"a step does exactly one of {', '.join(STEP_KINDS)} (this one has: {which})",
            )
        if self.with_ and self.uses is None:
            raise PydanticCustomError("step_kind", "'with' goes with 'uses'")
        if (self.sql_params or self.writes) and self.sql is None:
            raise PydanticCustomError("step_kind", "'sql_params' and 'writes' go with 'sql'")
        if not self.blocking and self.manual is None:
            raise PydanticCustomError("step_kind", "'blocking' goes with 'manual'")
        return self

    @property
    def pauses(self) -> bool:
        """Whether a run stops here until a person confirms the step."""
        return self.manual is not None and self.blocking

    @property
    def kind(self) -> str:
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)

    @property
    def expectations(self) -> list[str]:
        if self.expect is None:
            return []
        return [self.expect] if isinstance(self.expect, str) else list(self.expect)


class Runbook(Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    description: str = ""
    severity: list[SeverityName] = []
    components: list[str] = []
    symptoms: list[str] = []
    parameters: dict[str, Parameter] = {}
    steps: list[Step] = Field(min_length=1)
