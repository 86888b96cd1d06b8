"""The `opsbook` command: mounts each domain's Typer app, and turns a state store that
cannot be used into one line, whichever command met it."""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from typer._click.core import ParameterSource  # typer vendors click; not re-exported
from typer._click.exceptions import ClickException, NoArgsIsHelpError, NoSuchOption, UsageError

from opsbook import __version__, streams
from opsbook.lazycli import Lazy, LazyGroup

ROOT_OPTIONS = ("--config", "-c")
CONFIG_GIVEN = "opsbook.config_given"  # ctx.meta (shared by every context of one run)


def _config_before(ctx: Any, _param: Any, value: Path | None) -> Path | None:
    """Note the root's --config when it was typed (not read from $OPSBOOK_CONFIG, which a
    --config after the command overrides), for `_config_after` to compare."""
    if value is not None and ctx.get_parameter_source("config") is ParameterSource.COMMANDLINE:
        ctx.meta[CONFIG_GIVEN] = Path(value)  # typer converts after the callback
    return value


def _config_after(ctx: Any, _param: Any, values: list[Path]) -> None:
    """`opsbook status --config F` means what `opsbook --config F status` means: people
    type the option where they type every other one. Typed twice with two files, it is
    refused rather than the last one silently winning: acting on the other file's store
    is not a guess to make for someone."""
    paths = [Path(value) for value in values]  # typer converts after the callback
    for value in paths:
        earlier: Path | None = ctx.meta.get(CONFIG_GIVEN)
        if earlier is not None and not _same_file(earlier, value):
            from opsbook.console import visible

            shown = f"{visible(earlier)}, {visible(value)}"
            raise UsageError(f"--config given twice ({shown}): give it once", ctx)
        ctx.meta[CONFIG_GIVEN] = value
    if paths:
        from opsbook.context import app_context

        app_context(ctx).config_option = paths[-1]


def _same_file(one: Path, other: Path) -> bool:
    """One file however written (`./a.yaml`, `../dir/a.yaml`, a symlink to it)."""
    return one == other or os.path.realpath(one.expanduser()) == os.path.realpath(
        other.expanduser()
    )


@functools.cache
def _after_option() -> Any:
    """The hidden --config/-c every command takes, built by typer as a list so that each
    one given is seen (a single value would keep only the last)."""
    probe = typer.Typer()

    @probe.command()
    def _probe(config: list[Path] = typer.Option([], *ROOT_OPTIONS, hidden=True)) -> None:
        pass

    [option] = [p for p in typer.main.get_command(probe).params if p.name == "config"]
    option.expose_value, option.callback = False, _config_after
    return option


def _accept_config_after(command: Any) -> None:
    """Give `command` and every command under it the root's --config/-c, hidden and read
    from the command line only (the root alone reads $OPSBOOK_CONFIG), unless a command
    already uses either name: that one keeps its own, and `_Opsbook.invoke` says where
    the root's goes."""
    taken = {name for param in command.params for name in param.opts}
    if not taken & set(ROOT_OPTIONS):
        command.params.append(copy.copy(_after_option()))
    for sub in getattr(command, "commands", {}).values():
        _accept_config_after(sub)


def _status() -> typer.Typer:
    """`opsbook status` shows what opsbook sees; `opsbook status export` writes the public
    page."""
    from opsbook.status import cli as maintenance_cli
    from opsbook.watch import status_cli

    status_app = typer.Typer(invoke_without_command=True, help="What is firing, what is open.")
    status_app.callback()(status_cli.status)
    status_app.command("export")(maintenance_cli.export)
    return status_app


@functools.cache
def _incident() -> typer.Typer:
    """Customer email is notify's operation on an incident: mounted here, so that
    incidents (which notify listens to) never imports notify."""
    from opsbook.incidents import cli as incidents_cli
    from opsbook.notify import customers_cli

    incidents_cli.app.command("notify-customers")(customers_cli.notify_customers)
    return incidents_cli.app


@functools.cache
def _maintenance() -> typer.Typer:
    """Routine maintenance (routines/) beside the status page's maintenance windows
    (status/)."""
    from opsbook.routines import cli as routines_cli
    from opsbook.status import cli as maintenance_cli

    for name, command in (
        ("routines", routines_cli.routines),
        ("due", routines_cli.due),
        ("run", routines_cli.run),
        ("rotated", routines_cli.rotated),
        ("history", routines_cli.history),
    ):
        maintenance_cli.app.command(name)(command)
    return maintenance_cli.app


# Every command, in the order `--help` lists them. A command's module is
# imported only when it runs; `help` is its first paragraph (tests/test_cli.py keeps the
# two equal).
COMMANDS = {
    "demo": Lazy(
        "Run opsbook against a seeded sandbox on this machine, watching it until Ctrl-C.",
        "opsbook.demo.cli:demo",
    ),
    "init": Lazy(
        "Write a commented starter opsbook.yaml, and a .env.example listing the variables it"
        " reads with where to find each value.",
        "opsbook.config.cli:init",
    ),
    "check": Lazy(
        "Run checks once (all, or the named ones) and store what they saw, as serve does;"
        " exit 1 if any is not ok.",
        "opsbook.watch.cli:check",
    ),
    "serve": Lazy(
        "Run the checks on their schedule, evaluate rules, receive Alertmanager webhooks.",
        "opsbook.web.serve:serve",
    ),
    "history": Lazy(
        "Uptime, runs, failures and latency per check from the downsampled history.",
        "opsbook.watch.history_cli:show",
    ),
    "status": Lazy("What is firing, what is open.", build=_status),
    "config": Lazy("Validate and show the configuration.", "opsbook.config.cli:app"),
    "incident": Lazy(
        "Open and drive incidents: severities, SLA clocks, post-mortems.", build=_incident
    ),
    "runbook": Lazy(
        "Executable runbooks: dry-run, run, resume; every step recorded.",
        "opsbook.runbooks.cli:app",
    ),
    "db": Lazy(
        "The target database: status, diagnostics, safe remediation.", "opsbook.postgres.cli:app"
    ),
    "oncall": Lazy(
        "On-call schedules: who is on call, shifts, overrides.", "opsbook.oncall.cli:app"
    ),
    "store": Lazy("opsbook's own state store.", "opsbook.store.cli:app"),
    "audit": Lazy("The append-only audit log.", "opsbook.store.cli:audit_app"),
    "sandbox": Lazy(
        "The sandbox app: a target shaped like the seed's, with fault switches.",
        "opsbook.sandbox.cli:app",
    ),
    "maintenance": Lazy(
        "Maintenance windows shown on the status page (schedule, list, start, complete,"
        " cancel), and routine maintenance run on a schedule (routines, due, run, rotated,"
        " history).",
        build=_maintenance,
    ),
    "notify": Lazy("Paging channels and the notification outbox.", "opsbook.notify.cli:app"),
    "backup": Lazy(
        "Backups of the target database and the app's files: create, files, list, verify,"
        " restore, restore-files, prune.",
        "opsbook.backups.cli:app",
    ),
    "drill": Lazy(
        "DR drills: restore a backup into a scratch database and prove it comes back.",
        "opsbook.backups.cli_drill:app",
    ),
    "deploy": Lazy("Verify deployments and keep their records.", "opsbook.deploy.cli:app"),
}


class _Opsbook(LazyGroup):
    """Every command runs inside this: a store that is unreachable, read-only or full
    is reported once here (AppContext.store_failed), not as a page of SQLAlchemy; and
    `--config` is accepted after the command as before it (given to each command as it
    is loaded)."""

    lazy = COMMANDS

    def prepare(self, command: Any) -> None:
        _accept_config_after(command)

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _usage_errors_in_one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        with _usage_errors_in_one_line():
            return self._invoke(ctx)

    def _invoke(self, ctx: Any) -> Any:
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
            from opsbook.context import app_context
            from opsbook.store.engine import is_store_failure

            if not is_store_failure(error):
                raise
            app_context(ctx).store_failed(error)


@contextlib.contextmanager
def _usage_errors_in_one_line() -> Iterator[None]:
    """A mistyped command, option or value said in one line like every other refusal
    (`error: Invalid value for '--keep-days': 'x' is not a valid int range (see opsbook
    backup prune -h)`), not typer's five-line box; the typed value is shown escaped."""
    try:
        yield
    except NoArgsIsHelpError:
        raise  # `opsbook backup` alone: typer shows the group's help
    except ClickException as error:
        from opsbook.console import visible

        said = visible(error.format_message()).rstrip(". ")
        ctx = getattr(error, "ctx", None)
        hint = f" (see {visible(ctx.command_path)} -h)" if ctx is not None else ""
        with contextlib.suppress(OSError):
            sys.stderr.write(f"error: {said}{hint}\n")
            sys.stderr.flush()
        sys.exit(error.exit_code)


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
        callback=_config_before,
        help="opsbook.yaml to use (default: $OPSBOOK_CONFIG, then ./opsbook.yaml).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Example: opsbook --config prod.yaml config check"""
    from opsbook.context import AppContext

    # A caller (a test, an embedding program) may hand in a context with its own clock.
    context = ctx.obj if isinstance(ctx.obj, AppContext) else AppContext()
    context.config_option = config
    ctx.obj = context
    ctx.call_on_close(context.close)


@functools.cache
def command() -> Any:
    """`app` as the click command that runs it, built once per process: the command server
    (cliserver) builds it, every subcommand loaded, before it forks a child per command.
    What `app()` runs, less typer's exception hook (off here: pretty_exceptions_enable)."""
    return typer.main.get_command(app)


def main() -> None:
    """The `opsbook` program. As it ends, its objects are frozen out of the garbage
    collector: collecting a command's hundreds of thousands of objects (SQLAlchemy's,
    pydantic's) at interpreter shutdown took about 0.25 s of every command, and nothing
    is left for it to release (each command closes its store and files as it ends;
    standard output is flushed by the interpreter whatever the collector does)."""
    try:
        _refuse_undecodable(sys.argv[1:])
        streams.whole_writes()
        try:
            command()(prog_name="opsbook")  # the name people type, however it was started
        finally:
            streams.flush_output()
    except OSError as exc:
        if exc.errno not in streams.CANNOT_WRITE:
            raise
        streams.output_lost(exc)
    finally:
        gc.freeze()


def _refuse_undecodable(args: list[str]) -> None:
    """Exit 2 naming the first argument that is not UTF-8 (Python hands such bytes over
    as lone surrogates, which no store, JSON or terminal takes) before anything runs."""
    for number, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            from opsbook.console import visible

            shown = visible(arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
            sys.stderr.write(
                f"error: argument {number} is not UTF-8 text: {shown}; nothing was changed\n"
            )
            raise SystemExit(2) from None
