"""The actions behind the `http:` and `run:` step kinds (`notify:` is notify/actions.py)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, Literal

import aiohttp
from pydantic import Field, field_validator

from opsbook.config.secrets import mask_text
from opsbook.runbooks.actions import (
    SHELL,
    Action,
    ActionContext,
    ActionFailed,
    ActionInputs,
    Registry,
)

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


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ShellInputs(ActionInputs):
    # Templates in `command` never become shell text: each value is passed in `env` and
    # the command refers to it (expressions.render_shell).
    command: str = Field(json_schema_extra=SHELL)
    env: dict[str, str] = {}

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name, value in env.items():
            if not _ENV_NAME.match(name):
                raise ValueError(f"env: {name!r} is not an environment variable name")
            if "\x00" in value:
                raise ValueError(f"env {name}: a value cannot hold a NUL byte")
        return env


def _shell(context: ActionContext, inputs: ShellInputs) -> dict[str, Any]:
    try:
        # The command text is the runbook's own; every templated value is in env.
        process = subprocess.Popen(
            ["/bin/sh", "-c", inputs.command],
            env={**os.environ, **inputs.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group: ended whole, never orphaned
        )
    except OSError as exc:
        raise ActionFailed(f"cannot start the command: {exc}") from None
    with _reaper(process.pid):
        context.on_process(process.pid)
        try:
            stdout, stderr = process.communicate(timeout=context.timeout)
        except subprocess.TimeoutExpired:
            _end_group(process)
            raise ActionFailed(f"timed out after {context.timeout:g}s: {_shown(inputs)}") from None
        except BaseException:
            # SIGTERM (raised as an exception by the runbook CLI) or Ctrl-C: the step's
            # processes end with the step instead of outliving it.
            _end_group(process)
            raise
    return {
        "exit_code": process.returncode,
        "stdout": mask_text(stdout[-BODY_LIMIT:], context.secrets),
        "stderr": mask_text(stderr[-BODY_LIMIT:], context.secrets),
    }


def _end_group(process: subprocess.Popen[str]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


# The reaper outlives opsbook by design: it waits on a pipe only opsbook writes to. When
# opsbook finishes the step it writes "done"; when opsbook dies (even by SIGKILL) the
# kernel closes the pipe, the read sees end-of-file, and the step's process group is
# killed, so a killed run leaves no command running that a resume would start again.
_REAPER = 'read -r group; read -r word; [ "$word" = done ] || kill -KILL -"$group"'


@contextmanager
def _reaper(group: int) -> Iterator[None]:
    read_end, write_end = os.pipe()
    try:
        reaper = subprocess.Popen(
            ["/bin/sh", "-c", _REAPER, "opsbook-reaper"],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not ended with opsbook by a Ctrl-C to the terminal
        )
    finally:
        os.close(read_end)
    os.write(write_end, f"{group}\n".encode())
    finished = False
    try:
        yield
        finished = True
    finally:
        os.write(write_end, b"done\n" if finished else b"kill\n")
        os.close(write_end)
        reaper.wait()


def _shown(inputs: ShellInputs) -> str:
    """The command as a person reads it: each value written where its reference stands."""
    text = inputs.command
    for name, value in inputs.env.items():
        text = text.replace("${" + name + "}", value)
    return text


def register(registry: Registry) -> None:
    registry.register(
        Action(
            "http.request",
            "Send an HTTP request and return status, JSON and body.",
            HttpInputs,
            _http,
            lambda i: f"{i.method} {i.url}",
            writes=lambda i: i.method not in ("GET", "HEAD"),
        )
    )
    registry.register(
        Action(
            "shell.run",
            "Run a shell command with a timeout.",
            ShellInputs,
            _shell,
            lambda i: f"$ {_shown(i)}",
            writes=lambda _i: True,
        )
    )
