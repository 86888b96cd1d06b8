"""The `notify:` step (action `notify.send`): a notice to a team's channel through the
outbox, reported as it stands (delivered, queued, failed), never as a bare "ok"."""

from __future__ import annotations

from typing import Any

from opsbook.config import Config
from opsbook.config.secrets import mask_text
from opsbook.incidents import service as incidents
from opsbook.notify import notices
from opsbook.runbooks.actions import Action, ActionContext, ActionFailed, ActionInputs, Registry


class NotifyInputs(ActionInputs):
    channel: str
    message: str


def _check(config: Config, inputs: NotifyInputs) -> None:
    notices.notice_channel(config, inputs.channel)


def _notify(context: ActionContext, inputs: NotifyInputs) -> dict[str, Any]:
    # The run and step name the notice: a resumed run finds it queued (or delivered)
    # instead of posting it again.
    # A secret parameter in the text is masked before it is stored or posted anywhere.
    text = mask_text(inputs.message, context.secrets)
    key = None
    if context.run_id is not None and context.step_id is not None:
        key = f"runbook-{context.run_id}-{context.step_id}"
    try:
        with context.store.session() as session:
            row = notices.queue_notice(
                session,
                context.config,
                channel=inputs.channel,
                text=text,
                key=key,
                incident_id=context.incident_id,
                actor=context.actor,
                clock=context.clock,
            )
            if context.incident_id is not None and row.attempts == 0:
                incident = incidents.get(session, incident_id=context.incident_id)
                incidents.log_event(
                    session,
                    incident=incident,
                    kind="notify",
                    actor=context.actor,
                    clock=context.clock,
                    text=f"notice to {row.channel}: {text}",
                    data={"channel": row.channel, "outbox": row.id},
                )
            message_id = row.id
    except notices.NoticeError as exc:
        raise ActionFailed(str(exc)) from None
    result = notices.deliver_notice(
        context.store, context.config, message_id=message_id, clock=context.clock
    )
    output = {
        "channel": result.channel,
        "message": text,
        "status": result.status,
        "delivery": result.words,
        "outbox_id": result.message_id,
    }
    if result.status == "failed":
        raise ActionFailed(f"notice to {result.channel} {result.words}", output)
    return output


def register(registry: Registry) -> None:
    registry.register(
        Action(
            "notify.send",
            "Send a notice to a channel through the outbox; says delivered, queued or failed.",
            NotifyInputs,
            _notify,
            lambda i: f"notify {i.channel}: {i.message}",
            writes=lambda _i: True,
            check=_check,
        )
    )
