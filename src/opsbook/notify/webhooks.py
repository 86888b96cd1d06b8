"""What PagerDuty (webhooks v3) and Slack (interactivity) send, read into a RemoteAction.

Both bodies are read only once their signature has been checked. Anything that is not a
request opsbook acts on (another event type, another button) reads as None: answered 200
and dropped, since neither sender can do better by sending it again.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from opsbook.bodies import BodyError, check_depth, parse_json, unstorable
from opsbook.notify.channels.slack import ACKNOWLEDGE, RESOLVE
from opsbook.notify.inbound import Action, RemoteAction, actor_name

# PagerDuty's event ids are UUIDs, Slack's trigger ids a few dotted numbers: an id past
# this is not one of theirs.
Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]
PAGERDUTY_ACTIONS: dict[str, Action] = {
    "incident.acknowledged": "acknowledge",
    "incident.resolved": "resolve",
}
SLACK_ACTIONS: dict[str, Action] = {ACKNOWLEDGE: "acknowledge", RESOLVE: "resolve"}


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PdAgent(_Read):
    """Who acted in PagerDuty: a user (`summary` is their name) or a service."""

    id: str | None = None
    summary: str | None = None
    html_url: str | None = None


class PdEvent(_Read):
    id: Id
    event_type: Annotated[str, StringConstraints(max_length=200)]
    resource_type: str | None = None
    agent: PdAgent | None = None
    data: dict[str, Any] | None = None


class PdWebhook(_Read):
    event: PdEvent


class SlackUser(_Read):
    id: str
    username: str | None = None
    name: str | None = None


class SlackAction(_Read):
    action_id: str
    value: str | None = None
    action_ts: str | None = None


class SlackInteraction(_Read):
    type: str
    user: SlackUser | None = None
    actions: list[SlackAction] = Field(default_factory=list, max_length=100)
    response_url: str | None = None
    trigger_id: Id | None = None

    @field_validator("response_url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("not an http(s) URL")
            if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
                raise ValueError("holds a space or a control character")
        return url


def _storable(data: Any) -> Any:
    problem = unstorable(data, nul=True)
    if problem:
        raise BodyError(problem)
    return data


def pagerduty_event(body: bytes) -> PdWebhook:
    """The webhook; BodyError or ValidationError (answered 400) when it is not one."""
    return PdWebhook.model_validate(_storable(parse_json(body)))


def pagerduty_action(webhook: PdWebhook, channels: tuple[str, ...]) -> RemoteAction | None:
    """The acknowledge or resolve a webhook asks for; None for other events and for
    incidents opsbook did not send (no incident_key: made in PagerDuty itself)."""
    event = webhook.event
    action = PAGERDUTY_ACTIONS.get(event.event_type)
    key = (event.data or {}).get("incident_key")
    if action is None or not isinstance(key, str) or not key:
        return None
    agent = event.agent or PdAgent()
    who = agent.summary or agent.id or "unknown"
    return RemoteAction("pagerduty", action, key, actor_name("pagerduty", who), event.id, channels)


def slack_interaction(body: bytes, max_depth: int) -> SlackInteraction:
    """The form's one `payload` field, read as JSON; BodyError or ValidationError (400).
    The middleware measured the form, not the JSON inside it: it is measured here."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyError(f"not a form (application/x-www-form-urlencoded): {exc}") from None
    payload = form.get("payload")
    if not payload or len(payload) != 1:
        raise BodyError("the form needs exactly one `payload` field")
    text = payload[0].encode()
    check_depth(text, max_depth)
    return SlackInteraction.model_validate(_storable(parse_json(text)))


def slack_action(interaction: SlackInteraction, channels: tuple[str, ...]) -> RemoteAction | None:
    """The button press opsbook acts on: the first Acknowledge or Resolve, by the user who
    pressed it; None for other interactions."""
    if interaction.type != "block_actions" or interaction.user is None:
        return None
    for pressed in interaction.actions:
        action = SLACK_ACTIONS.get(pressed.action_id)
        if action is not None and pressed.value:
            user = interaction.user
            delivery = interaction.trigger_id or pressed.action_ts
            who = user.username or user.name or user.id
            return RemoteAction(
                "slack", action, pressed.value, actor_name("slack", who), delivery, channels
            )
    return None
