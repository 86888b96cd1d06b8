"""`opsbook sandbox ...`: run the reference target, seed it, and break it on purpose."""

from __future__ import annotations

import difflib
import os
import random
import time

import typer
import uvicorn
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from opsbook.bounds import MAX_ATTEMPTS, MAX_PORT
from opsbook.config.durations import format_duration
from opsbook.console import Exit, Table, console, fail, literal, print_json, safe
from opsbook.context import app_context
from opsbook.sandbox.app import create_app
from opsbook.sandbox.client import SandboxUnreachable, deploy_call, faults_call
from opsbook.sandbox.deploys import BAKE, BROKEN
from opsbook.sandbox.faults import FAULTS, FaultValueError, commit_of
from opsbook.sandbox.schema import apply_schema
from opsbook.sandbox.seed import seed as seed_data
from opsbook.sandbox.settings import DEFAULT_PORT, SandboxSettings

app = typer.Typer(
    help="The sandbox app: a target shaped like the seed's, with fault switches.",
    no_args_is_help=True,
)

_DB_HELP = "The sandbox's PostgreSQL (default: $DATABASE_URL, then database.url in the config)."
_URL_DEFAULT = f"http://127.0.0.1:{DEFAULT_PORT}"
_RUNNING = typer.Option(
    _URL_DEFAULT, "--url", envvar="OPSBOOK_SANDBOX_URL", help="The running sandbox."
)
_TOKEN = typer.Option(
    SandboxSettings.admin_token, "--token", envvar="OPSBOOK_SANDBOX_TOKEN", help="Its admin token."
)


def _database_url(ctx: typer.Context, given: str | None) -> str:
    if given:
        return given
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    configured = app_context(ctx).config().database.url
    if configured:
        return configured.reveal()
    fail("no database: pass --database-url, set DATABASE_URL, or set database.url")


def _env_port() -> int:
    """PORT, as twelve-factor apps read it (`opsbook drill --app-cmd` sets it)."""
    given = os.environ.get("PORT")
    if given is None:
        return DEFAULT_PORT
    if given.isascii() and given.isdigit() and len(given) <= 5 and 1 <= int(given) <= MAX_PORT:
        return int(given)
    fail(f"PORT {given[:20]!r}: a number from 1 to {MAX_PORT}")


@app.command("run")
def run(
    ctx: typer.Context,
    database_url: str | None = typer.Option(None, "--database-url", help=_DB_HELP),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int | None = typer.Option(
        None, "--port", min=1, max=MAX_PORT, help=f"Default: $PORT, else {DEFAULT_PORT}."
    ),
    commit: str = typer.Option(SandboxSettings.commit, "--commit", help="What /api/version says."),
    admin_token: str = typer.Option(
        SandboxSettings.admin_token,
        "--admin-token",
        envvar="OPSBOOK_SANDBOX_TOKEN",
        help="Bearer token that guards the fault switches.",
    ),
) -> None:
    """Serve the sandbox app (applies its schema first when missing).

    Example: opsbook sandbox run --database-url postgresql://postgres@127.0.0.1:5432/sandbox
    """
    url = _database_url(ctx, database_url)
    port = port or _env_port()
    applied = apply_schema(url)
    if applied:
        console.print(f"applied sandbox migrations: {', '.join(applied)}")
    settings = SandboxSettings(database_url=url, commit=commit, admin_token=admin_token)
    console.print(f"sandbox on http://{safe(host)}:{port} (Ctrl-C stops it)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


@app.command("schema")
def schema(
    ctx: typer.Context,
    database_url: str | None = typer.Option(None, "--database-url", help=_DB_HELP),
) -> None:
    """Apply the sandbox schema as Supabase migrations (recorded in schema_migrations).

    Example: opsbook sandbox schema --database-url postgresql://postgres@127.0.0.1/sandbox
    """
    applied = apply_schema(_database_url(ctx, database_url))
    console.print(f"applied: {', '.join(applied)}" if applied else "schema already up to date")


@app.command("seed")
def seed(
    ctx: typer.Context,
    database_url: str | None = typer.Option(None, "--database-url", help=_DB_HELP),
    attempts: int = typer.Option(
        100_000, "--attempts", min=0, max=MAX_ATTEMPTS, help="Scenario attempts to add."
    ),
    years: float = typer.Option(
        3.0, "--years", min=0.01, max=100, help="Spread them over this many years."
    ),
    orgs: int = typer.Option(20, "--orgs", min=1, max=10_000),
    users_per_org: int = typer.Option(25, "--users-per-org", min=1, max=10_000),
    random_seed: int | None = typer.Option(
        None, "--random-seed", min=0, max=2**63 - 1, help="Repeatable data."
    ),
) -> None:
    """Fill the sandbox with realistic data, fast (COPY).

    Example: opsbook sandbox seed --attempts 1000000 --years 3
    """
    url = _database_url(ctx, database_url)
    apply_schema(url)
    started = time.monotonic()
    with Progress(
        TextColumn("seeding attempts"),
        BarColumn(),
        TextColumn("{task.completed:,}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("seed", total=attempts)
        summary = seed_data(
            url,
            attempts=attempts,
            years=years,
            orgs=orgs,
            users_per_org=users_per_org,
            rng=random.Random(random_seed),
            progress=lambda n: progress.advance(task, n),
        )
    console.print(
        f"seeded {summary.orgs} orgs, {summary.users} users, {summary.scenarios} scenarios, "
        f"{summary.attempts:,} attempts ({summary.in_progress:,} in progress) "
        f"in {time.monotonic() - started:.1f}s"
    )


@app.command("fault")
def fault(
    name: str | None = typer.Argument(None, help="Fault to switch; omit to list them."),
    value: str | None = typer.Argument(None, help="Its value (see the list); default per fault."),
    off: bool = typer.Option(False, "--off", help="Switch this fault off."),
    clear: bool = typer.Option(False, "--clear", help="Switch every fault off."),
    url: str = _RUNNING,
    token: str = _TOKEN,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Switch a fault on or off in a running sandbox, or list them.

    Example: opsbook sandbox fault leak-connections 50
    """
    if name is not None and name not in FAULTS:
        close = difflib.get_close_matches(name, list(FAULTS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        fail(f"no fault named {name!r}{hint}; known: {', '.join(FAULTS)}")
    if (off or value is not None) and name is None:
        fail("name the fault to switch")
    try:
        if clear:
            status, data = faults_call(url, token, "DELETE")
        elif name is None:
            status, data = faults_call(url, token, "GET")
        elif off:
            status, data = faults_call(url, token, "DELETE", name)
        else:
            status, data = faults_call(url, token, "PUT", name, value)
    except SandboxUnreachable as exc:
        fail(str(exc), Exit.FOUND)
    if status == 422:
        fail(str(data.get("error")))
    if status != 200:
        fail(f"the sandbox answered {status}: {data.get('error', data)}", Exit.FOUND)
    if as_json:
        print_json(data)
    elif clear:
        console.print("all faults off")
    elif name is None:
        _print_faults(data["faults"])
    else:
        console.print(_switched(name, data["value"]))


@app.command("deploy")
def deploy(
    commit: str = typer.Option(..., "--commit", help="The version /api/version will report."),
    broken: str | None = typer.Option(
        None, "--broken", help="health: fails at once; errors: 50% of pages fail after 1m."
    ),
    url: str = _RUNNING,
    token: str = _TOKEN,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Deploy another version to a running sandbox, optionally a broken one.

    Example: opsbook sandbox deploy --commit 9b1d2e3f --broken errors
    """
    try:
        commit = commit_of(commit)
    except FaultValueError as exc:
        fail(f"--commit: {exc}")
    if broken is not None and broken not in BROKEN:
        fail(f"--broken: {broken!r} is not one of {', '.join(BROKEN)}")
    try:
        status, data = deploy_call(url, token, commit, broken)
    except SandboxUnreachable as exc:
        fail(str(exc), Exit.FOUND)
    if status != 200:
        fail(f"the sandbox answered {status}: {data.get('error', data)}", Exit.FOUND)
    if as_json:
        print_json(data)
        return
    bake = format_duration(BAKE)
    after = {"health": "; health fails", "errors": f"; pages start failing after {bake}"}
    console.print(f"sandbox serves {safe(commit)}{after.get(broken or '', '')}")


def _switched(name: str, value: object) -> str:
    """What the switch did, in words: `health-500 on: GET /api/health answers 500`, and
    where to see opsbook notice it."""
    if value is None:
        return f"{name} off; watch: opsbook status"
    given = "" if value is True else f" ({safe(value)})"
    return f"{name} on{given}: {safe(FAULTS[name].help)}; watch: opsbook status"


def _print_faults(active: dict[str, object]) -> None:
    table = Table("fault", "state", "what it does", "example value")
    for name, spec in FAULTS.items():
        state = "off" if name not in active else literal(active[name], "bold red")
        table.add_row(name, state, spec.help, spec.example)
    console.print(table)
