"""The actions behind the `http:`, `run:` and `notify:` step kinds."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from typing import Any, Literal

import aiohttp
from pydantic import Field

from opsbook.config.secrets import mask_text
from opsbook.incidents import service as incidents
from opsbook.runbooks.actions import Action, ActionContext, ActionFailed, ActionInputs, Registry

BODY_LIMIT = 64 * 1024


class HttpInputs(ActionInputs):
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str
    headers: dict[str, str] = {}
    json_: Any = Field(default=None, alias="json")
    body: str | None = None


async def _request(inputs: HttpInputs, timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        kwargs: dict[str, Any] = {"headers": inputs.headers}
        if inputs.json_ is not None:
            kwargs["json"] = inputs.json_
        elif inputs.body is not None:
            kwargs["data"] = inputs.body
        async with session.request(inputs.method, inputs.url, **kwargs) as response:
            raw = await response.content.read(BODY_LIMIT)
            text = raw.decode(errors="replace")
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = None
            return {
                "status": response.status,
                "json": parsed,
                "body": text,
                "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
            }


def _http(context: ActionContext, inputs: HttpInputs) -> dict[str, Any]:
    try:
        return asyncio.run(_request(inputs, context.timeout))
    except TimeoutError:
        raise ActionFailed(f"no answer from {inputs.url} within {context.timeout:g}s") from None
    except aiohttp.ClientError as exc:
        raise ActionFailed(f"{inputs.method} {inputs.url} failed: {exc}") from None


class ShellInputs(ActionInputs):
    command: str


def _shell(context: ActionContext, inputs: ShellInputs) -> dict[str, Any]:
    process = subprocess.Popen(
        inputs.command,
        shell=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so a timeout ends the whole pipeline, not just the shell
    )
    try:
        stdout, stderr = process.communicate(timeout=context.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise ActionFailed(f"timed out after {context.timeout:g}s: {inputs.command}") from None
    return {
        "exit_code": process.returncode,
        "stdout": mask_text(stdout[-BODY_LIMIT:], context.secrets),
        "stderr": mask_text(stderr[-BODY_LIMIT:], context.secrets),
    }


class NotifyInputs(ActionInputs):
    channel: str
    message: str


def _notify(context: ActionContext, inputs: NotifyInputs) -> dict[str, Any]:
    # Channels (Slack, PagerDuty, email) arrive with the notify capability; until then a
    # message is recorded on the incident timeline and in the run record, never dropped.
    if context.incident_id is not None:
        with context.store.session() as session:
            incident = incidents.get(session, incident_id=context.incident_id)
            incidents.log_event(
                session,
                incident=incident,
                kind="notify",
                actor=context.actor,
                clock=context.clock,
                text=f"to {inputs.channel}: {inputs.message}",
                data={"channel": inputs.channel, "delivered": False},
            )
    return {
        "channel": inputs.channel,
        "message": inputs.message,
        "delivered": False,
        "recorded": context.incident_id is not None,
    }


def register(registry: Registry) -> None:
    registry.register(
        Action(
            "http.request",
            "Send an HTTP request and return status, JSON and body.",
            HttpInputs,
            _http,
            lambda i: f"{i.method} {i.url}",
        )
    )
    registry.register(
        Action(
            "shell.run",
            "Run a shell command with a timeout.",
            ShellInputs,
            _shell,
            lambda i: f"$ {i.command}",
        )
    )
    registry.register(
        Action(
            "notify.send",
            "Send a message to a channel (recorded on the timeline for now).",
            NotifyInputs,
            _notify,
            lambda i: f"notify {i.channel}: {i.message}",
        )
    )
