"""`opsbook demo --scenario bad-deploy`: a bad deploy caught and rolled back, then watching.

On the demo's sandbox: a good commit is deployed and verified; then a commit whose health
endpoint fails is deployed, verify catches it at the health stage and, as
`opsbook deploy verify --auto-rollback` does (the same service functions), rolls back to
the good one through the sandbox's fake Vercel API, then verifies what serves again.
#deploys is a fake Slack on this machine; what it receives is printed as it arrives,
then the deploy records. The watch stage is shortened to seconds: a demo."""

from __future__ import annotations

import asyncio
import datetime as dt
from contextlib import ExitStack

from opsbook.clock import SYSTEM_CLOCK, sleeper
from opsbook.config import Config
from opsbook.config.notify import SlackChannel
from opsbook.config.rollback import VercelSettings
from opsbook.config.secrets import Secret
from opsbook.console import Table, console, literal
from opsbook.demo.stage import Stage as DemoStage
from opsbook.demo.watching import Watching, start_watching
from opsbook.deploy import rollback, service
from opsbook.deploy.stages import Stage, Target
from opsbook.sandbox.client import deploy_call
from opsbook.sandbox.fakes import PagingFakes
from opsbook.sandbox.settings import SandboxSettings
from opsbook.sandbox.vercel import PREFIX, PROJECT
from opsbook.store import Store, open_store

GOOD = "9b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d"
BAD = "1111111111aaaaaaaaaa2222222222bbbbbbbbbb"
ACTOR = "opsbook-demo"
_SECONDS = dt.timedelta(seconds=1)


class _Stages(service.Progress):
    """Each stage as it ends, one line: what verify saw."""

    def finished(self, stage: Stage) -> None:
        style = "green" if stage.outcome == "passed" else "dim" if stage.passed else "bold red"
        word = {"passed": "ok", "skipped": "skip"}.get(stage.outcome, "FAILED")
        console.print(literal(f"  {word:>6} {stage.name:<8} {stage.saw}", style))


def play(stage: DemoStage) -> Watching:
    """Good deploy verified; bad deploy caught at health and rolled back; records shown;
    then the sandbox watched as in every scenario."""
    bad_deploy(stage.cleanup, stage.config, stage.settings, stage.app_url)
    return start_watching(stage)


def bad_deploy(cleanup: ExitStack, config: Config, settings: SandboxSettings, url: str) -> None:
    """Good deploy verified; bad deploy caught at health and rolled back; records shown."""
    fakes = PagingFakes(lambda line: console.print(literal(f"  {line}"), style="bold magenta"))
    cleanup.callback(fakes.stop)
    console.print(literal(f"fake Slack        {fakes.webhook_url} (#deploys)"))
    local = _deploying_to(config, settings, url, fakes.webhook_url)
    store = open_store(local.store.url.reveal(), base_dir=local.base_dir)
    cleanup.callback(store.close)

    _deploy(settings, url, GOOD, broken=None)
    good = _verify(store, local, url, GOOD)
    console.print(literal(f"deploy #{good.id}: {GOOD[:12]} {good.verdict} verification", "green"))

    _deploy(settings, url, BAD, broken="health")
    bad = _verify(store, local, url, BAD)
    console.print(literal(f"deploy #{bad.id}: {BAD[:12]} failed at {bad.failed_stage}", "bold red"))
    console.print(f"rolling back (--auto-rollback) through the fake Vercel API at {PREFIX}")
    back = asyncio.run(
        rollback.roll_back_failed(
            store=store,
            config=local,
            verification=bad,
            actor=ACTOR,
            clock=SYSTEM_CLOCK,
            sleep=sleeper(SYSTEM_CLOCK),
            progress=_Stages(),
        )
    )
    head = f"rollback #{back.id}: {back.plan.env} to {back.plan.commit[:12]}"
    said = "serves and is verified" if back.verdict == "passed" else f"{back.verdict}: {back.saw}"
    console.print(literal(f"{head} ({back.plan.target.label}) {said}", "bold green"))
    _print_records(store)


def _deploying_to(config: Config, settings: SandboxSettings, url: str, webhook: str) -> Config:
    """The demo's config with #deploys at the fake Slack (no other channel: nothing else
    is sent), rollbacks through the sandbox's fake Vercel, and short waits."""
    deploys = next(
        c for c in config.notify.channels if isinstance(c, SlackChannel) and c.channel == "#deploys"
    )
    channel = deploys.model_copy(update={"webhook_url": Secret(webhook)})
    notify = config.notify.model_copy(
        update={
            "channels": [channel],
            "routing": {"P0": [], "P1": [], "P2": [], "P3": []},
            "components": {},
        }
    )
    vercel = VercelSettings(
        token=Secret(settings.vercel_token),
        project=PROJECT,
        api_url=f"{url}{PREFIX}",
        wait=dt.timedelta(seconds=30),
    )
    deploy = config.deploy.model_copy(
        update={
            "provider": "vercel",
            "vercel": vercel,
            "channel": channel.name,
            "wait": dt.timedelta(seconds=30),
            "watch": 3 * _SECONDS,
            "poll_every": _SECONDS,
            "sample_every": _SECONDS,
        }
    )
    return config.model_copy(update={"notify": notify, "deploy": deploy})


def _deploy(settings: SandboxSettings, url: str, commit: str, *, broken: str | None) -> None:
    """What `opsbook sandbox deploy` does: the sandbox serves `commit`, and its fake Vercel
    lists it as the newest production deployment."""
    how = f" --broken {broken}" if broken else ""
    console.print(f"\n$ opsbook sandbox deploy --commit {commit[:12]}{how}")
    status, answer = deploy_call(url, settings.admin_token, commit, broken)
    if status != 200:
        raise RuntimeError(f"the sandbox refused the deploy ({status}): {answer}")


def _verify(store: Store, config: Config, url: str, commit: str) -> service.Verification:
    console.print(literal(f"$ opsbook deploy verify --commit {commit[:12]} --auto-rollback"))
    target = Target(
        commit=commit, env="production", url=url, wait=config.deploy.wait, watch=config.deploy.watch
    )
    return asyncio.run(
        service.verify(
            store=store,
            config=config,
            target=target,
            actor=ACTOR,
            clock=SYSTEM_CLOCK,
            sleep=sleeper(SYSTEM_CLOCK),
            progress=_Stages(),
        )
    )


def _print_records(store: Store) -> None:
    console.print("\n$ opsbook deploy list")
    table = Table("#", "env", "commit", "verdict", "failed at", "what it saw", "by")
    for row in service.list_deploys(store=store):
        style = "green" if row.verdict == "passed" else "bold red"
        table.add_row(
            str(row.id),
            row.env,
            row.commit[:12],
            literal(row.verdict, style),
            row.failed_stage or "",
            row.saw or "",
            row.actor,
        )
    console.print(table)
