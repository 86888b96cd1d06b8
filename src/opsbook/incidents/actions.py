"""Incident actions for runbooks: open, acknowledge, update, note, resolve.

Each is a thin door over the service function of the same name, as the command line is:
pydantic checks the step's inputs, the incident is the run's unless the step names one,
the operation runs in one transaction, and a refusal fails the step in a runbook's words
(`force: true`, `incident.resolve`) with nothing changed. A step that moves the incident
or speaks publicly asks a person first, and is skipped, saying why, when the incident is
already further along than the step would take it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from opsbook.bounds import Id
from opsbook.incidents import relapse, service
from opsbook.incidents.lifecycle import ORDER, Status
from opsbook.runbooks.actions import Action, ActionContext, ActionFailed, ActionInputs, Registry

_Inputs = TypeVar("_Inputs", bound=ActionInputs)
_Operation = Callable[[ActionContext, _Inputs, Session], dict[str, Any]]

# Names in a refusal as a runbook author writes them under `with:` or `uses:`.
_WORDS = {"force": "force: true", "resolve": "incident.resolve"}


def runbook_word(name: str) -> str:
    """A name in a refusal as a runbook step says it: `force` -> `force: true`."""
    return _WORDS.get(name, name)


def _door(operation: _Operation[_Inputs]) -> Callable[[ActionContext, _Inputs], dict[str, Any]]:
    def run(context: ActionContext, inputs: _Inputs) -> dict[str, Any]:
        try:
            with context.store.session() as session:
                return operation(context, inputs, session)
        except service.IncidentError as exc:
            raise ActionFailed(exc.worded(runbook_word)) from None

    return run


def _incident(context: ActionContext, given: int | None) -> int:
    incident_id = given if given is not None else context.incident_id
    if incident_id is None:
        raise ActionFailed("no incident: run with --incident ID or pass incident_id")
    return incident_id


class OpenInputs(ActionInputs):
    """The `with:` of `incident.open`."""

    title: str
    severity: str
    component: str | None = None
    symptoms: list[str] = []
    message: str | None = None
    public: bool = False


def _open(context: ActionContext, inputs: OpenInputs, session: Session) -> dict[str, Any]:
    incident = service.open_incident(
        session,
        title=inputs.title,
        severity=inputs.severity,
        actor=context.actor,
        clock=context.clock,
        component=inputs.component,
        symptoms=inputs.symptoms,
        message=inputs.message,
        public=inputs.public,
    )
    context.incident_id = incident.id  # the run's incident from here on
    return {"incident_id": incident.id, "status": incident.status}


class AckInputs(ActionInputs):
    """The `with:` of `incident.acknowledge`; `incident_id` defaults to the run's incident."""

    message: str | None = None
    incident_id: Id | None = None


def _acknowledge(context: ActionContext, inputs: AckInputs, session: Session) -> dict[str, Any]:
    # A procedure should not stop because a person took the incident first.
    incident_id = _incident(context, inputs.incident_id)
    event = service.acknowledge(
        session,
        incident_id=incident_id,
        actor=context.actor,
        clock=context.clock,
        message=inputs.message,
        only_if_open=True,
    )
    status = service.get(session, incident_id=incident_id).status
    return {"incident_id": incident_id, "acknowledged": event is not None, "status": status}


class UpdateInputs(ActionInputs):
    """The `with:` of `incident.update`; `incident_id` defaults to the run's incident."""

    status: str | None = None
    message: str | None = None
    public: bool = False
    incident_id: Id | None = None


def _update(context: ActionContext, inputs: UpdateInputs, session: Session) -> dict[str, Any]:
    incident_id = _incident(context, inputs.incident_id)
    service.update(
        session,
        incident_id=incident_id,
        actor=context.actor,
        clock=context.clock,
        status=inputs.status,
        message=inputs.message,
        public=inputs.public,
    )
    return {
        "incident_id": incident_id,
        "status": service.get(session, incident_id=incident_id).status,
    }


class NoteInputs(ActionInputs):
    """The `with:` of `incident.note`; `incident_id` defaults to the run's incident."""

    text: str
    incident_id: Id | None = None


def _note(context: ActionContext, inputs: NoteInputs, session: Session) -> dict[str, Any]:
    incident_id = _incident(context, inputs.incident_id)
    service.note(
        session, incident_id=incident_id, actor=context.actor, clock=context.clock, text=inputs.text
    )
    return {"incident_id": incident_id}


class ResolveInputs(ActionInputs):
    """The `with:` of `incident.resolve`; `incident_id` defaults to the run's incident."""

    message: str | None = None
    force: bool = False
    incident_id: Id | None = None


def _resolve(context: ActionContext, inputs: ResolveInputs, session: Session) -> dict[str, Any]:
    incident_id = _incident(context, inputs.incident_id)
    service.resolve(
        session,
        incident_id=incident_id,
        actor=context.actor,
        clock=context.clock,
        policy=context.config.incidents,
        message=inputs.message,
        force=inputs.force,
    )
    return {"incident_id": incident_id, "status": "resolved"}


# --- before a step acts: ask, or skip when the incident is further along ----------------


def _status_now(context: ActionContext, given: int | None) -> tuple[int, Status] | None:
    incident_id = given if given is not None else context.incident_id
    if incident_id is None:
        return None  # the step itself says "no incident"
    try:
        with context.store.reading() as session:
            return incident_id, Status(service.get(session, incident_id=incident_id).status)
    except service.IncidentNotFound:
        return None  # the step itself says so


def _stale_ack(context: ActionContext, inputs: AckInputs) -> str | None:
    """An acknowledge step on an incident someone already took: nothing to do, said so."""
    found = _status_now(context, inputs.incident_id)
    if found is None or found[1] is Status.OPEN:
        return None
    incident_id, status = found
    with context.store.reading() as session:
        if relapse.awaits_acknowledgement(service.timeline(session, incident_id=incident_id)):
            return None
    return f"incident {incident_id} is already {status.value}"


def _stale_update(context: ActionContext, inputs: UpdateInputs) -> str | None:
    """A status the incident has passed (a runbook's "investigating" on one in monitoring),
    or a public word on one resolved: acting would move it back or mislead customers."""
    found = _status_now(context, inputs.incident_id)
    if found is None or (inputs.status is None and not inputs.public):
        return None
    incident_id, status = found
    try:
        target = service.parse_status(inputs.status) if inputs.status else None
    except service.IncidentError:
        return None  # the step itself refuses it, in its words
    passed = target is not None and ORDER.index(status) > ORDER.index(target)
    if passed or status is Status.RESOLVED:
        return f"incident {incident_id} is already {status.value}"
    return None


def _update_asks(inputs: UpdateInputs) -> bool:
    return inputs.status is not None or inputs.public


def register(registry: Registry) -> None:
    """Add the incident actions to a runbook's registry."""
    for action in (
        Action(
            "incident.acknowledge",
            "Acknowledge the incident if still open.",
            AckInputs,
            _door(_acknowledge),
            lambda i: f"acknowledge: {i.message or ''}".strip(),
            stale=_stale_ack,
        ),
        Action(
            "incident.open",
            "Open an incident.",
            OpenInputs,
            _door(_open),
            lambda i: f"open {i.severity} incident: {i.title}",
            asks=lambda i: i.public,
        ),
        Action(
            "incident.update",
            "Post an update, optionally changing status.",
            UpdateInputs,
            _door(_update),
            lambda i: f"incident update: {i.status or ''} {i.message or ''}".strip(),
            asks=_update_asks,
            stale=_stale_update,
        ),
        Action(
            "incident.note",
            "Add a note to the timeline.",
            NoteInputs,
            _door(_note),
            lambda i: f"incident note: {i.text}",
        ),
        Action(
            "incident.resolve",
            "Resolve the incident (15 min of monitoring unless force).",
            ResolveInputs,
            _door(_resolve),
            lambda i: "resolve the incident" + (" (force)" if i.force else ""),
            asks=lambda _i: True,
        ),
    ):
        registry.register(action)
