"""The `command` provider, for platforms without an API opsbook speaks: the deploy records
say which commits served before, and the configured argv puts one back.

`{deployment}` and `{commit}` are replaced inside single argv elements and the command
runs without a shell, so a deployment id such as `; rm -rf /` or `$(id)` reaches the
command as one literal argument (the config refuses a placeholder inside an `sh -c`
script, where it would be shell code again; the plan refuses an id that starts with `-`).
The command runs from the config's directory (paths in the config are relative to it) in
a session of its own, killed whole at the timeout or when the rollback is interrupted.
What it prints is read to its end but only its last 64 KiB kept (tails), and shown with
every secret opsbook knows masked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from pathlib import Path

from opsbook.config.durations import format_duration
from opsbook.config.rollback import CommandSettings
from opsbook.config.secrets import mask_text
from opsbook.deploy.providers import Candidate, ProviderError
from opsbook.tails import Tail, read_async
from opsbook.watch.checks.fetch import short

OUTPUT_LIMIT = 64 * 1024


class Command:
    name = "command"

    def __init__(
        self,
        settings: CommandSettings,
        *,
        cwd: Path,
        known: list[Candidate],
        secrets: list[str] | None = None,
    ) -> None:
        self.settings, self.cwd, self.known = settings, cwd, known
        self.secrets = secrets or []

    async def deployments(self) -> list[Candidate]:
        return list(self.known)

    def argv(self, target: Candidate) -> list[str]:
        values = {"{deployment}": target.id, "{commit}": target.commit or ""}
        words = []
        for word in self.settings.argv:
            for placeholder, value in values.items():
                word = word.replace(placeholder, value)
            words.append(word)
        return words

    async def promote(self, target: Candidate) -> str:
        argv = self.argv(target)
        shown = shlex.join(argv)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProviderError(f"cannot run {shown}: {exc.strerror or exc}") from None
        limit = self.settings.timeout
        assert process.stdout is not None
        tail = Tail(OUTPUT_LIMIT)
        try:
            await asyncio.wait_for(
                asyncio.gather(read_async(process.stdout, tail), process.wait()),
                limit.total_seconds(),
            )
        except TimeoutError:
            await _kill(process)
            raise ProviderError(
                f"{shown} still ran after {format_duration(limit)} (deploy.command.timeout);"
                " it was stopped",
                acted=True,
            ) from None
        except BaseException:  # a Ctrl-C: the command does not outlive the rollback
            await _kill(process)
            raise
        text = short(mask_text(tail.text(), self.secrets), 300)
        if process.returncode != 0:
            said = f": {text}" if text else ""
            raise ProviderError(f"{shown} exited {process.returncode}{said}", acted=True)
        return f"{shown} exited 0" + (f": {text}" if text else "")


async def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()
