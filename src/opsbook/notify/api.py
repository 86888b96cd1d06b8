"""The doors of two-way acknowledge: `POST /api/v1/pagerduty` (PagerDuty webhooks v3) and
`POST /api/v1/slack/interactions` (Slack button presses), each a few lines over
`inbound.act`.

Each checks the signature over the raw body before reading a field of it. Refusals: 404
while no secret is configured, a missing or wrong signature 403 from PagerDuty (what its
webhooks document: no redelivery) and 401 from Slack (or a Slack timestamp more than 5
minutes off), 400 for a signed body that is not what the sender documents.
Anything else is answered 200, acted on or not, so neither sender retries what cannot
change. The store work runs in a thread (a row lock may be waited on); Slack's reply is
posted after the answer, its transaction long committed: Slack wants its answer within
3 seconds, and no transaction waits on the network.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import Response
from pydantic import ValidationError

from opsbook.bodies import BodyError
from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.notify import inbound, webhooks
from opsbook.notify.channels import SendContext, new_http
from opsbook.notify.channels.slack import reply
from opsbook.notify.inbound import RemoteAction, RemoteOutcome, Source
from opsbook.notify.signing import SignatureError, verify_pagerduty, verify_slack
from opsbook.responses import JSONResponse, explain, refused
from opsbook.store import Store

log = logging.getLogger("opsbook.notify")
PAGERDUTY = "a PagerDuty webhook"
SLACK = "a Slack interaction"
REPLY_TIMEOUT = dt.timedelta(seconds=5)
_UNSET = {
    "pagerduty": (
        "PagerDuty webhooks are not configured",
        "set webhook_secret on a pagerduty channel (notify.channels) to the subscription's"
        " signing secret",
    ),
    "slack": (
        "Slack interactivity is not configured",
        "set signing_secret on a slack channel (notify.channels) to the Slack app's signing secret",
    ),
}


def router(config: Config, store: Store, *, clock: Clock) -> APIRouter:
    routes = APIRouter()

    @routes.post("/api/v1/pagerduty")
    async def pagerduty(request: Request) -> Response:
        signers = inbound.signers(config, "pagerduty")
        if not signers:
            return _unconfigured(request, "pagerduty")
        body = await request.body()
        header = request.headers.get("x-pagerduty-signature")
        try:
            signer = verify_pagerduty(header, body, signers)
            event = webhooks.pagerduty_event(body)
        except SignatureError as exc:
            return refused(request, PAGERDUTY, 403, "bad signature", str(exc))
        except (ValidationError, BodyError) as exc:
            return refused(request, PAGERDUTY, 400, "not a PagerDuty v3 webhook", explain(exc))
        action = webhooks.pagerduty_action(event, signer.channels)
        if action is None:
            log.debug("ignored a PagerDuty %r webhook", event.event.event_type)
            return JSONResponse({"outcome": "ignored"})
        outcome = await _act(config, store, action, clock)
        return JSONResponse({"outcome": outcome.outcome, "incident": outcome.incident_id})

    @routes.post("/api/v1/slack/interactions")
    async def slack(request: Request, later: BackgroundTasks) -> Response:
        signers = inbound.signers(config, "slack")
        if not signers:
            return _unconfigured(request, "slack")
        body = await request.body()
        headers = request.headers
        try:
            signer = verify_slack(
                headers.get("x-slack-request-timestamp"),
                headers.get("x-slack-signature"),
                body,
                signers,
                now=clock.now(),
            )
            interaction = webhooks.slack_interaction(body, config.serve.max_json_depth)
        except SignatureError as exc:
            return refused(request, SLACK, 401, "bad signature", str(exc))
        except (ValidationError, BodyError) as exc:
            return refused(request, SLACK, 400, "not a Slack interaction payload", explain(exc))
        action = webhooks.slack_action(interaction, signer.channels)
        if action is None:
            log.debug("ignored a Slack %r interaction", interaction.type)
            return Response(status_code=200)
        outcome = await _act(config, store, action, clock)
        if interaction.response_url:
            text, only_presser = slack_reply(action, outcome)
            later.add_task(_reply, interaction.response_url, text, only_presser, clock)
        return Response(status_code=200)

    return routes


async def _act(config: Config, store: Store, action: RemoteAction, clock: Clock) -> RemoteOutcome:
    outcome = await asyncio.to_thread(inbound.act, store, config, action, clock=clock)
    log.info(
        "%s %s by %r: %s (%s)",
        inbound.SOURCES[action.source],
        action.action,
        action.actor,
        outcome.outcome,
        outcome.text,
    )
    return outcome


def slack_reply(action: RemoteAction, outcome: RemoteOutcome) -> tuple[str, bool]:
    """What the channel is told, and whether only the person who pressed sees it."""
    who = "@" + action.actor.removeprefix("slack:")
    number = f"incident #{outcome.incident_id}"
    if outcome.outcome == "acknowledged":
        return f"Acknowledged by {who} ({number})", False
    if outcome.outcome == "resolved":
        return f"Resolved by {who} ({number})", False
    if outcome.outcome == "refused":
        return f"Not resolved: {outcome.text}", False
    return f"Nothing done: {outcome.text}", True


async def _reply(url: str, text: str, only_presser: bool, clock: Clock) -> None:
    async with new_http(1) as http:
        answer = await reply(
            SendContext(http=http, clock=clock),
            url,
            text,
            ephemeral=only_presser,
            timeout=REPLY_TIMEOUT,
        )
    if not answer.delivered:
        log.warning("Slack did not take the reply to a button press: %s", answer.detail)


def _unconfigured(request: Request, source: Source) -> JSONResponse:
    error, detail = _UNSET[source]
    return refused(request, PAGERDUTY if source == "pagerduty" else SLACK, 404, error, detail)
