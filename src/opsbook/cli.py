"""The `opsbook` command: mounts each domain's Typer app, and turns a state store that
cannot be used into one line, whichever command met it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import typer
from typer._click.exceptions import NoSuchOption  # typer vendors click; not re-exported
from typer.core import TyperGroup

from opsbook import __version__
from opsbook.backups import cli as backups_cli
from opsbook.backups import cli_drill as drill_cli
from opsbook.bounds import MAX_ATTEMPTS, MAX_PORT
from opsbook.config import cli as config_cli
from opsbook.context import AppContext, app_context
from opsbook.deploy import cli as deploy_cli
from opsbook.incidents import cli as incidents_cli
from opsbook.notify import cli as notify_cli
from opsbook.notify import customers_cli
from opsbook.oncall import cli as oncall_cli
from opsbook.postgres import cli as postgres_cli
from opsbook.routines import cli as routines_cli
from opsbook.runbooks import cli as runbooks_cli
from opsbook.sandbox import cli as sandbox_cli
from opsbook.status import cli as maintenance_cli
from opsbook.store import cli as store_cli
from opsbook.store.engine import is_store_failure
from opsbook.watch import cli as watch_cli
from opsbook.watch import history_cli, status_cli
from opsbook.web import serve as web_serve

ROOT_OPTIONS = ("--config", "-c")


def _config_after(ctx: Any, _param: Any, value: Path | None) -> None:
    """`opsbook status --config F` means what `opsbook --config F status` means: people
    type the option where they type every other one."""
    if value is not None:
        app_context(ctx).config_option = value


def _accept_config_after(command: Any, root_option: Any) -> None:
    """Give `command` and every command under it the root's --config/-c, hidden and read
    from the command line only (the root alone reads $OPSBOOK_CONFIG), unless a command
    already uses either name: that one keeps its own, and `_Opsbook.invoke` says where
    the root's goes."""
    taken = {name for param in command.params for name in param.opts}
    if not taken & set(ROOT_OPTIONS):
        option = copy.copy(root_option)
        option.envvar, option.hidden, option.expose_value = None, True, False
        option.callback = _config_after
        command.params.append(option)
    for sub in getattr(command, "commands", {}).values():
        _accept_config_after(sub, root_option)


class _Opsbook(TyperGroup):
    """Every command runs inside this: a store that is unreachable, read-only or full
    is reported once here (AppContext.store_failed), not as a page of SQLAlchemy; and
    `--config` is accepted after the command as before it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        [root_option] = [p for p in self.params if ROOT_OPTIONS[0] in p.opts]
        for command in self.commands.values():
            _accept_config_after(command, root_option)

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        try:
            return super().invoke(ctx)
        except NoSuchOption as error:
            if error.option_name not in ROOT_OPTIONS or error.ctx is None:
                raise
            # `opsbook status --config F`: the option belongs to `opsbook` itself.
            where = error.ctx.command_path.removeprefix(ctx.command_path).strip()
            error.message = f"put --config before the command: opsbook --config FILE {where}"
            error.possibilities = None
            raise
        except Exception as error:
            if not is_store_failure(error):
                raise
            app_context(ctx).store_failed(error)


app = typer.Typer(
    name="opsbook",
    cls=_Opsbook,
    help="The operations runbook as software: watch, incidents, runbooks, database care.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"opsbook {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        envvar="OPSBOOK_CONFIG",
        help="opsbook.yaml to use (default: $OPSBOOK_CONFIG, then ./opsbook.yaml).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Example: opsbook --config prod.yaml config check"""
    # A caller (a test, an embedding program) may hand in a context with its own clock.
    context = ctx.obj if isinstance(ctx.obj, AppContext) else AppContext()
    context.config_option = config
    ctx.obj = context
    ctx.call_on_close(context.close)


app.command("init")(config_cli.init)
app.command("check")(watch_cli.check)
app.command("serve")(web_serve.serve)
# `opsbook status` shows what opsbook sees; `opsbook status export` writes the public page.
status_app = typer.Typer(invoke_without_command=True, help="What is firing, what is open.")
status_app.callback()(status_cli.status)
status_app.command("export")(maintenance_cli.export)
app.add_typer(status_app, name="status")
app.command("history")(history_cli.show)
app.add_typer(config_cli.app, name="config")
# Customer email is notify's operation on an incident: mounted here, so that incidents
# (which notify listens to) never imports notify.
incidents_cli.app.command("notify-customers")(customers_cli.notify_customers)
app.add_typer(incidents_cli.app, name="incident")
app.add_typer(runbooks_cli.app, name="runbook")
app.add_typer(postgres_cli.app, name="db")
app.add_typer(oncall_cli.app, name="oncall")
app.add_typer(store_cli.app, name="store")
app.add_typer(store_cli.audit_app, name="audit")
app.add_typer(sandbox_cli.app, name="sandbox")
# Routine maintenance (routines/) beside the status page's maintenance windows (status/).
for _name, _command in (
    ("routines", routines_cli.routines),
    ("due", routines_cli.due),
    ("run", routines_cli.run),
    ("rotated", routines_cli.rotated),
    ("history", routines_cli.history),
):
    maintenance_cli.app.command(_name)(_command)
app.add_typer(maintenance_cli.app, name="maintenance")
app.add_typer(notify_cli.app, name="notify")
app.add_typer(backups_cli.app, name="backup")
app.add_typer(drill_cli.app, name="drill")
app.add_typer(deploy_cli.app, name="deploy")


@app.command("demo")
def demo(
    database_url: str | None = typer.Option(
        None, "--database-url", help="Use this PostgreSQL instead of a throwaway one."
    ),
    port: int | None = typer.Option(
        None, "--port", min=1, max=MAX_PORT, help="Sandbox port (default 8300 if free)."
    ),
    attempts: int = typer.Option(
        50_000, "--attempts", min=0, max=MAX_ATTEMPTS, help="Attempts to seed."
    ),
    once: bool = typer.Option(False, "--once", help="Set up, run, and stop at once."),
    scenario: str | None = typer.Option(
        None,
        "--scenario",
        help="tour (the default: two scripted incidents, then watching), outage (break"
        " the sandbox's health, see the P0 open, the page sent, the status page red) or"
        " bad-deploy (a bad deploy caught at health and rolled back).",
    ),
) -> None:
    """Run opsbook against a seeded sandbox on this machine, watching it until Ctrl-C.

    Example: opsbook demo --attempts 200000
    """
    from opsbook.demo import run_demo
    from opsbook.demo.scenarios import SCENARIOS

    if scenario is not None and scenario not in SCENARIOS:
        from opsbook.console import fail

        fail(f"no scenario {scenario!r}; there is: {', '.join(SCENARIOS)}")
    run_demo(database_url=database_url, port=port, attempts=attempts, once=once, scenario=scenario)


def main() -> None:
    app()
