"""`opsbook config check` and `opsbook init`."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from opsbook.config.profiles import profile_names, profile_text
from opsbook.config.secrets import mask_value
from opsbook.console import console, fail, literal, print_json, safe
from opsbook.context import app_context

app = typer.Typer(help="Validate and show the configuration.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the resolved config as JSON."),
) -> None:
    """Validate opsbook.yaml and print it resolved, with secrets masked.

    Example: opsbook --config prod.yaml config check
    """
    context = app_context(ctx)
    config = context.config(required=True)
    # Secret fields dump as ***; a password inside any other value (a check's URL) is
    # masked by its shape.
    resolved = mask_value(config.model_dump(mode="json", by_alias=True))
    if as_json:
        print_json(resolved)
        return
    console.print(literal(yaml.safe_dump(resolved, sort_keys=False, width=100), newlines=True))
    console.print(
        f"[green]ok[/] {safe(config.source)}: {len(config.checks)} checks, "
        f"{len(config.alerts.rules)} alert rules, {len(config.notify.channels)} channels"
    )


def init(
    profile: str = typer.Option(
        "default",
        "--profile",
        help="Starter to write: default or voiceaitraining (the seed's stack).",
    ),
    directory: Path = typer.Option(Path("."), "--dir", help="Where to write opsbook.yaml."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing opsbook.yaml."),
) -> None:
    """Write a commented starter opsbook.yaml.

    Example: opsbook init --profile voiceaitraining
    """
    if profile not in profile_names():
        fail(f"no profile {profile!r}; choose one of: {', '.join(profile_names())}")
    target = directory / "opsbook.yaml"
    if target.exists() and not force:
        fail(f"{target} already exists; pass --force to overwrite it")
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(profile_text(profile))
    console.print(f"wrote {safe(target)} ({profile} profile); next: opsbook config check")
