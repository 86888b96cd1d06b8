"""Incident actions for runbooks: open, update, note, resolve."""

from __future__ import annotations

from typing import Any

from opsbook.bounds import Id
from opsbook.incidents import service
from opsbook.runbooks.actions import Action, ActionContext, ActionFailed, ActionInputs, Registry


class OpenInputs(ActionInputs):
    title: str
    severity: str
    component: str | None = None
    symptoms: list[str] = []


class UpdateInputs(ActionInputs):
    status: str | None = None
    message: str | None = None
    public: bool = False
    incident_id: Id | None = None


class NoteInputs(ActionInputs):
    text: str
    incident_id: Id | None = None


class ResolveInputs(ActionInputs):
    message: str | None = None
    force: bool = False
    incident_id: Id | None = None


def _incident(context: ActionContext, given: int | None) -> int:
    incident_id = given if given is not None else context.incident_id
    if incident_id is None:
        raise ActionFailed("no incident: run with --incident ID or pass incident_id")
    return incident_id


def _guard(fn: Any) -> Any:
    def run(context: ActionContext, inputs: Any) -> dict[str, Any]:
        try:
            return dict(fn(context, inputs))
        except service.IncidentError as exc:
            raise ActionFailed(str(exc)) from None

    return run


@_guard
def _open(context: ActionContext, inputs: OpenInputs) -> dict[str, Any]:
    with context.store.session() as session:
        incident = service.open_incident(
            session,
            title=inputs.title,
            severity=inputs.severity,
            actor=context.actor,
            clock=context.clock,
            component=inputs.component,
            symptoms=inputs.symptoms,
        )
        context.incident_id = incident.id
        return {"incident_id": incident.id, "status": incident.status}


@_guard
def _update(context: ActionContext, inputs: UpdateInputs) -> dict[str, Any]:
    incident_id = _incident(context, inputs.incident_id)
    with context.store.session() as session:
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


class AckInputs(ActionInputs):
    message: str | None = None
    incident_id: Id | None = None


@_guard
def _acknowledge(context: ActionContext, inputs: AckInputs) -> dict[str, Any]:
    """Acknowledge if still open; an incident someone already took is left as it is."""
    incident_id = _incident(context, inputs.incident_id)
    with context.store.session() as session:
        incident = service.get(session, incident_id=incident_id)
        if incident.status == "open":
            service.acknowledge(
                session,
                incident_id=incident_id,
                actor=context.actor,
                clock=context.clock,
                message=inputs.message,
            )
            return {"incident_id": incident_id, "acknowledged": True}
        return {"incident_id": incident_id, "acknowledged": False, "status": incident.status}


@_guard
def _note(context: ActionContext, inputs: NoteInputs) -> dict[str, Any]:
    incident_id = _incident(context, inputs.incident_id)
    with context.store.session() as session:
        service.note(
            session,
            incident_id=incident_id,
            actor=context.actor,
            clock=context.clock,
            text=inputs.text,
        )
    return {"incident_id": incident_id}


@_guard
def _resolve(context: ActionContext, inputs: ResolveInputs) -> dict[str, Any]:
    incident_id = _incident(context, inputs.incident_id)
    with context.store.session() as session:
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


def register(registry: Registry) -> None:
    registry.register(
        Action(
            "incident.acknowledge",
            "Acknowledge the incident if still open.",
            AckInputs,
            _acknowledge,
            lambda i: f"acknowledge: {i.message or ''}".strip(),
        )
    )
    registry.register(
        Action(
            "incident.open",
            "Open an incident.",
            OpenInputs,
            _open,
            lambda i: f"open {i.severity} incident: {i.title}",
        )
    )
    registry.register(
        Action(
            "incident.update",
            "Post an update, optionally changing status.",
            UpdateInputs,
            _update,
            lambda i: f"incident update: {i.status or ''} {i.message or ''}".strip(),
        )
    )
    registry.register(
        Action(
            "incident.note",
            "Add a note to the timeline.",
            NoteInputs,
            _note,
            lambda i: f"incident note: {i.text}",
        )
    )
    registry.register(
        Action(
            "incident.resolve",
            "Resolve the incident (15 min of monitoring unless force).",
            ResolveInputs,
            _resolve,
            lambda i: "resolve the incident" + (" (force)" if i.force else ""),
        )
    )
