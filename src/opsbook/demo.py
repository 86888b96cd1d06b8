"""`opsbook demo`: the whole loop on embedded defaults, on this machine, leaving nothing behind.

Starts a throwaway PostgreSQL (or uses --database-url), lays out and seeds the sandbox
app, serves it, writes an opsbook.yaml for it from the voiceaitraining profile, and runs
opsbook against it. Later capabilities extend `_run_opsbook` to show themselves.
It is one scenario script, kept whole so that it reads top to bottom.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import aiohttp
import psycopg

from opsbook.clock import SYSTEM_CLOCK
from opsbook.config import Config, load_config
from opsbook.config.notify import Channel, PagerDutyChannel, SlackChannel
from opsbook.config.profiles import fill_variables, profile_text
from opsbook.config.secrets import Secret
from opsbook.console import Table, console, literal, safe
from opsbook.demo_deploy import bad_deploy
from opsbook.demo_page import OPERATIONAL, investigating_message, wait_for_line
from opsbook.incidents import service as incidents
from opsbook.incidents.views import clock_line
from opsbook.postgres.cluster import TempCluster, free_port
from opsbook.registry import default_registry
from opsbook.runbooks import loader as runbook_loader
from opsbook.runbooks.engine import Engine, Interaction
from opsbook.runbooks.reporter import ConsoleReporter
from opsbook.sandbox.app import create_app
from opsbook.sandbox.client import faults_call
from opsbook.sandbox.fakes import PagingFakes
from opsbook.sandbox.providers import STATUS_PROVIDERS as PAGES
from opsbook.sandbox.schema import apply_schema
from opsbook.sandbox.seed import seed
from opsbook.sandbox.settings import DEFAULT_PORT, SandboxSettings
from opsbook.sandbox.signatures import svix_sign
from opsbook.serving import BackgroundServer
from opsbook.store import Store, open_store
from opsbook.store.audit import record
from opsbook.watch import service as watch
from opsbook.web.app import create_app as web_app

# Channels the demo cannot reach yet point at a closed local port, never at a real service.
_UNREACHABLE = "http://127.0.0.1:9/not-configured"


@dataclass
class Probe:
    what: str
    method: str
    path: str
    expect: int
    status: int | None = None
    millis: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == self.expect


class _Stop(Exception):
    """Raised in the main thread by SIGTERM, handled like Ctrl-C."""


def run_demo(
    *,
    database_url: str | None,
    port: int | None,
    attempts: int,
    once: bool,
    scenario: str | None = None,
) -> None:
    with _stop_on_signals(), ExitStack() as cleanup:
        state_dir = Path(tempfile.mkdtemp(prefix="opsbook-demo-"))
        cleanup.callback(shutil.rmtree, state_dir, ignore_errors=True)
        console.print(f"state directory   {safe(state_dir)}")
        try:
            _run(cleanup, state_dir, database_url, port, attempts, once, scenario)
        except (KeyboardInterrupt, _Stop):
            console.print("\nstopping...")
        finally:
            cleanup.close()
            console.print("stopped: servers ended, temporary files removed")


def _run(
    cleanup: ExitStack,
    state_dir: Path,
    database_url: str | None,
    port: int | None,
    attempts: int,
    once: bool,
    scenario: str | None,
) -> None:
    if database_url is None:
        console.print("starting a throwaway PostgreSQL...")
        cluster = TempCluster.start()
        cleanup.callback(cluster.stop)
        # The app connects as its own plain role, as on Supabase; opsbook as the admin.
        cluster.create_role("app")
        app_database_url = cluster.create_database("voiceaitraining", owner="app")
        database_url = cluster.url("voiceaitraining")
        # The runbook's prevention advice, taken: runaway queries are cut off.
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute("alter database voiceaitraining set statement_timeout = '60s'")
        console.print(
            f"PostgreSQL        {database_url}  (cluster in {cluster.root}, "
            f"server pid {cluster.server_pid()})"
        )
    else:
        app_database_url = database_url
        console.print("PostgreSQL        using the database given with --database-url")
    apply_schema(app_database_url)
    started = time.monotonic()
    summary = seed(app_database_url, attempts=attempts, years=3)
    console.print(
        f"seeded            {summary.attempts:,} attempts over 3 years "
        f"in {time.monotonic() - started:.1f}s"
    )

    settings = SandboxSettings(database_url=app_database_url)
    server = BackgroundServer(create_app(settings), port=_pick_port(port)).start()
    cleanup.callback(server.stop)
    console.print(f"sandbox app       {server.url}")

    config = _write_config(state_dir, server.url, database_url, settings)
    console.print(f"opsbook config    {safe(config.source)}")
    if scenario == "outage":
        _outage(cleanup, config, settings, server.url)
    elif scenario == "bad-deploy":
        bad_deploy(cleanup, config, settings, server.url)
    else:
        _status_page(cleanup, config)
        _run_opsbook(config, settings, server.url)

    console.print("\ntry, in another terminal:")
    source = safe(config.source)
    console.print(f"  opsbook --config {source} config check")
    console.print(f"  opsbook --config {source} incident show 1")
    if scenario == "outage":
        console.print(f"  opsbook --config {source} status")
        console.print(f"  opsbook --config {source} history --since 1h")
    console.print(f"  opsbook sandbox fault --url {server.url}")
    console.print(f"  opsbook sandbox fault health-500 --url {server.url}")
    if once:
        return
    console.print("\n[bold]Ready.[/] Press Ctrl-C to stop everything.")
    threading.Event().wait()


def _outage(cleanup: ExitStack, config: Config, settings: SandboxSettings, url: str) -> None:
    """Watch the sandbox, break its health, and show the alert fire and the P0 open."""
    interval = dt.timedelta(seconds=2)
    # Only the checks that stay on this machine (status pages are the sandbox's stand-ins).
    local = config.model_copy(
        update={
            "checks": [
                c.model_copy(update={"interval": interval, "timeout": interval})
                for c in config.checks
                if c.kind in ("http", "version", "webhook", "postgres", "statuspage")
            ]
        }
    )
    fakes = PagingFakes(lambda line: console.print(literal(f"  {line}"), style="bold magenta"))
    cleanup.callback(fakes.stop)
    console.print(f"fake PagerDuty    {fakes.events_url}\nfake Slack        {fakes.webhook_url}")
    local = _paging_to(local, fakes)
    store = open_store(local.store.url.reveal(), base_dir=local.base_dir)
    cleanup.callback(store.close)
    web = BackgroundServer(web_app(local, store, clock=SYSTEM_CLOCK), port=free_port()).start()
    cleanup.callback(web.stop)
    console.print(
        f"opsbook serve     {web.url}: {len(local.checks)} checks every "
        f"{interval.total_seconds():g}s"
    )
    console.print(f"status page       {web.url}/status")
    _wait(lambda: len(watch.check_states(store)) == len(local.checks), 30)
    for state in watch.check_states(store):
        console.print(literal(f"  {state.name:15} {state.state:9} {state.summary}"))
    console.print("\nin 5 seconds the sandbox's health check starts failing (fault health-500)")
    time.sleep(5)  # pacing for the viewer
    faults_call(url, settings.admin_token, "PUT", "health-500", True)
    broke = time.monotonic()
    _wait(lambda: any(a.incident_id for a in watch.open_alerts(store)), 60)
    with store.session() as session:
        [incident] = incidents.list_incidents(session, open_only=True)
        events = incidents.timeline(session, incident_id=incident.id)
    alert = next(a for a in watch.open_alerts(store) if a.incident_id)
    console.print(
        literal(
            f"alert {alert.rule} firing {time.monotonic() - broke:.1f}s after the fault: "
            f"{alert.summary}"
        )
    )
    console.print(literal(f"incident #{incident.id} {incident.severity} opened: {incident.title}"))
    for event in events:
        if event.kind == "runbook.suggested":
            console.print(literal(f"  {event.text}"))
    # The runbook's first question: is it us or a provider?
    providers = [s for s in watch.check_states(store) if s.kind == "statuspage"]
    if providers and all(s.state == "ok" for s in providers):
        names = safe(", ".join(s.name for s in providers))
        console.print(f"  providers' status pages all operational ({names}): the outage is ours")
    for state in providers:
        if state.state != "ok":
            console.print(literal(f"  {state.name}: {state.summary}"))
    # The runbook's step "Update status page", in the seed's words: customers see it.
    message = investigating_message(local)
    with store.session() as session:
        incidents.update(
            session, incident_id=incident.id, actor="opsbook-demo", clock=SYSTEM_CLOCK,
            status="investigating", message=message, public=True,
        )  # fmt: skip
    console.print(literal(wait_for_line(web.url, showing=message)), style="bold red")
    _page_and_resolve(store, local, fakes, settings, url, incident.id)
    console.print(literal(wait_for_line(web.url, showing=OPERATIONAL)), style="bold green")


def _status_page(cleanup: ExitStack, config: Config) -> None:
    """The public status page over the demo's store (no checks scheduled: the drills
    below write the incidents it shows)."""
    store = open_store(config.store.url.reveal(), base_dir=config.base_dir)
    cleanup.callback(store.close)
    app = web_app(config, store, clock=SYSTEM_CLOCK, schedule=False)
    web = BackgroundServer(app, port=free_port()).start()
    cleanup.callback(web.stop)
    console.print(f"status page       {web.url}/status")


def _paging_to(config: Config, fakes: PagingFakes) -> Config:
    """P0 and P1 page the demo's fake PagerDuty and fake Slack #incidents; nothing else is
    sent (the email channels have no server here)."""
    channels: list[Channel] = []
    for channel in config.notify.channels:
        if isinstance(channel, PagerDutyChannel):
            key = Secret("demo" * 8)  # the Events API wants 32 characters
            channels.append(
                channel.model_copy(update={"events_url": fakes.events_url, "routing_key": key})
            )
        elif isinstance(channel, SlackChannel) and channel.name == "slack-incidents":
            channels.append(channel.model_copy(update={"webhook_url": Secret(fakes.webhook_url)}))
    names = [c.name for c in channels]
    routing: dict[str, list[str]] = {"P0": names, "P1": names, "P2": [], "P3": []}
    notify = config.notify.model_copy(
        update={"channels": channels, "routing": routing, "components": {}}
    )
    return config.model_copy(update={"notify": notify})


def _page_and_resolve(
    store: Store,
    config: Config,
    fakes: PagingFakes,
    settings: SandboxSettings,
    url: str,
    incident_id: int,
) -> None:
    """The page arrives; the fault is fixed; the resolve reaches PagerDuty under the same
    dedup_key. (The runbook's 15 minutes of monitoring are skipped with force: a demo.)"""
    _wait(lambda: fakes.received("PagerDuty got: trigger"), 30)
    _switch_off(store, settings, url, incident_id)
    # The fix holds once the health check passes again and its alert resolves; resolving
    # before that would leave the alert firing with no incident, and it would open another.
    _wait(lambda: not any(a.incident_id == incident_id for a in watch.open_alerts(store)), 60)
    with store.session() as session:
        incidents.resolve(
            session,
            incident_id=incident_id,
            actor="opsbook-demo",
            clock=SYSTEM_CLOCK,
            policy=config.incidents,
            force=True,
        )
    console.print(f"incident #{incident_id} resolved (fault switched off)")
    _wait(
        lambda: fakes.received("PagerDuty got: resolve") and fakes.received("Slack got: Resolved"),
        30,
    )


def _wait(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the demo waited {timeout:g}s for something that did not happen")
        time.sleep(0.2)


def _pick_port(port: int | None) -> int:
    if port is not None:
        return port
    try:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", DEFAULT_PORT))
        return DEFAULT_PORT
    except OSError:
        return free_port()


def _write_config(
    state_dir: Path, app_url: str, database_url: str, settings: SandboxSettings
) -> Config:
    values = {
        "APP_URL": app_url,
        "APP_HOST": "127.0.0.1",
        "DATABASE_URL": database_url,
        "OPSBOOK_STORE_URL": f"sqlite:///{state_dir / 'opsbook.db'}",
        "EXPECTED_COMMIT": settings.commit,
        # The providers' status pages, as the sandbox serves them (the real ones are remote).
        **{f"{slug.upper()}_STATUS_URL": f"{app_url}/_providers/{slug}" for slug in PAGES},
        "PAGERDUTY_ROUTING_KEY": "demo-routing-key",
        "SLACK_INCIDENTS_WEBHOOK": _UNREACHABLE,
        "SLACK_DEPLOYS_WEBHOOK": _UNREACHABLE,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_USERNAME": "demo",
        "SMTP_PASSWORD": "demo",
    }
    path = state_dir / "opsbook.yaml"
    path.write_text(fill_variables(profile_text("voiceaitraining"), values))
    return load_config(path, env={})


def _run_opsbook(config: Config, settings: SandboxSettings, app_url: str) -> None:
    store = open_store(config.store.url.reveal(), base_dir=config.base_dir)
    try:
        with store.session() as session:
            record(
                session,
                action="demo.start",
                target=app_url,
                outcome="ok",
                details={"config": str(config.source)},
            )
        probes = asyncio.run(_probe(app_url, settings))
        _print_probes(probes)
        _incident_drill(store, config, settings, app_url)
        _runbook_drill(store, config, settings, app_url)
    finally:
        store.close()


def _incident_drill(store: Store, config: Config, settings: SandboxSettings, url: str) -> None:
    """Break the sandbox, open the incident the runbook prescribes, fix it, monitor."""
    actor, clock = "opsbook-demo", SYSTEM_CLOCK
    faults_call(url, settings.admin_token, "PUT", "health-500", True)
    health = asyncio.run(_probe(url, settings, only="health"))[0].status
    console.print(f"\nfault health-500 on: GET /api/health answers {health}")
    with store.session() as session:
        incident = incidents.open_incident(
            session,
            title="Complete service outage",
            severity="P0",
            actor=actor,
            clock=clock,
            component="app",
            symptoms=[f"Health check endpoint returning {health}"],
        )
        incident_id = incident.id
        incidents.acknowledge(
            session,
            incident_id=incident_id,
            actor=actor,
            clock=clock,
            message="Site down - investigating",
        )
        incidents.update(
            session,
            incident_id=incident_id,
            actor=actor,
            clock=clock,
            status="identified",
            public=True,
            message="The sandbox's health-500 fault switch is on",
        )
    _switch_off(store, settings, url, incident_id)
    with store.session() as session:
        incident = incidents.get(session, incident_id=incident_id)
        events = incidents.timeline(session, incident_id=incident_id)
        clocks = incidents.clocks_for(incident, events, config=config, now=clock.now())
    console.print(f"incident #{incident_id} P0 {safe(incident.title)}: {incident.status}")
    for sla in clocks:
        console.print(f"  {clock_line(sla, clock.now(), config.timezone)}")


def _switch_off(store: Store, settings: SandboxSettings, url: str, incident_id: int) -> None:
    """The fix: the fault switched off, and the incident publicly monitoring."""
    faults_call(url, settings.admin_token, "DELETE", "health-500")
    health = asyncio.run(_probe(url, settings, only="health"))[0].status
    with store.session() as session:
        incidents.update(
            session,
            incident_id=incident_id,
            actor="opsbook-demo",
            clock=SYSTEM_CLOCK,
            status="monitoring",
            public=True,
            message=f"Fault switched off; health answers {health} again",
        )


def _print_probes(probes: list[Probe]) -> None:
    table = Table("what", "request", "expected", "got", "ms")
    for probe in probes:
        got = "no answer" if probe.status is None else str(probe.status)
        style = "green" if probe.ok else "bold red"
        table.add_row(
            probe.what,
            f"{probe.method} {probe.path}",
            str(probe.expect),
            literal(got, style),
            f"{probe.millis:.0f}" if probe.millis else "",
        )
    console.print(table)


def _runbook_drill(store: Store, config: Config, settings: SandboxSettings, url: str) -> None:
    """Leak connections, then let the seed's P1 runbook find and end them."""
    actor, clock = "opsbook-demo", SYSTEM_CLOCK
    faults_call(url, settings.admin_token, "PUT", "leak-connections", 30)
    console.print("\nfault leak-connections 30 on: 30 idle connections held open")
    with store.session() as session:
        incident_id = incidents.open_incident(
            session,
            title="Too many connections",
            severity="P1",
            actor=actor,
            clock=clock,
            component="database",
            symptoms=["Queries timing out"],
        ).id
    registry = default_registry()
    source = runbook_loader.find(config, "p1-db-connections")
    runbook = runbook_loader.load_runbook(source.path, registry=registry)
    engine = Engine(
        store=store,
        config=config,
        registry=registry,
        clock=clock,
        actor=actor,
        reporter=ConsoleReporter(len(runbook.steps)),
    )
    console.print(f"incident #{incident_id} P1 Too many connections: running {runbook.name}")
    params = {"leak_threshold": 100, "idle_minutes": 0, "pid": None}
    run_id = engine.start(runbook, source=str(source.path), incident_id=incident_id, params=params)
    outcome = engine.execute(run_id, runbook, Interaction(yes=True), params)
    console.print(
        f"run {run_id} {outcome}; manual steps are listed by: opsbook runbook resume {run_id}"
    )
    faults_call(url, settings.admin_token, "DELETE", "leak-connections")


async def _probe(app_url: str, settings: SandboxSettings, only: str | None = None) -> list[Probe]:
    probes = [
        Probe("health", "GET", "/api/health", 200),
        Probe("version", "GET", "/api/version", 200),
        *(
            Probe("page", "GET", p, 200)
            for p in ("/sign-in", "/dashboard", "/scenarios", "/settings")
        ),
        Probe("clerk webhook, unsigned", "POST", "/api/webhooks/clerk", 401),
        Probe("clerk webhook, signed", "POST", "/api/webhooks/clerk", 200),
    ]
    probes = [p for p in probes if only is None or p.what == only]
    body = b'{"type":"user.updated"}'
    signed = svix_sign(settings.clerk_webhook_secret, "msg_demo", int(time.time()), body)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for probe in probes:
            headers = signed if probe.what.endswith(", signed") else {}
            started = time.monotonic()
            try:
                async with session.request(
                    probe.method,
                    app_url + probe.path,
                    data=body if probe.method == "POST" else None,
                    headers=headers,
                ) as response:
                    await response.read()
                    probe.status = response.status
            except (aiohttp.ClientError, TimeoutError):
                probe.status = None
            probe.millis = (time.monotonic() - started) * 1000
    return probes


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise _Stop()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
