"""`opsbook config check` and `opsbook init`."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from opsbook.config.dotenv import ENV_FILE, env_file_beside
from opsbook.config.models import Config
from opsbook.config.profiles import env_example, profile_names, profile_text
from opsbook.config.secrets import mask_value
from opsbook.config.unset import OffFeature, off_features
from opsbook.console import console, fail, literal, print_json, safe
from opsbook.context import app_context
from opsbook.notify import mail_templates

ENV_EXAMPLE = ".env.example"

app = typer.Typer(help="Validate and show the configuration.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print the resolved config as JSON, with `unset_secrets`: what stays off.",
    ),
    show: bool = typer.Option(
        False, "--show", help="Also print the resolved config (secrets masked) as YAML."
    ),
) -> None:
    """Validate opsbook.yaml (with .env beside it): the verdict first, then the features
    that stay off until their secrets are set; the resolved config with --show.

    Example: opsbook --config prod.yaml config check --show
    """
    context = app_context(ctx)
    config = context.config(required=True)
    # Secret fields dump as ***; a password inside any other value (a check's URL) is
    # masked by its shape.
    # `env:` is where to find values, shown beside the unset secrets, not behaviour.
    resolved = mask_value(config.model_dump(mode="json", by_alias=True, exclude={"env"}))
    broken = mail_templates.problems(config)
    if broken:
        fail("customer email templates:\n" + "\n".join(broken))
    off = off_features(config)
    if as_json:
        print_json(resolved | {"unset_secrets": [feature.as_dict() for feature in off]})
        return
    # The verdict is what a person runs this for: first, not after ~400 lines of YAML.
    console.print(
        f"[green]ok[/] {safe(config.source)}: {len(config.checks)} checks, "
        f"{len(config.alerts.rules)} alert rules, {len(config.notify.channels)} channels"
    )
    if off:
        _print_off(config, off)
    if show:
        console.print(literal(yaml.safe_dump(resolved, sort_keys=False, width=100), newlines=True))
    else:
        console.print("the resolved config, secrets masked: opsbook config check --show")


def _print_off(config: Config, off: list[OffFeature]) -> None:
    """One block: per feature, the variables to set and what stays off until then."""
    where = env_file_beside(config.source) if config.source else Path(ENV_FILE)
    console.print(
        f"[bold yellow]Unset secrets[/]: {len(off)} feature{'s' if len(off) != 1 else ''} "
        f"stay{'s' if len(off) == 1 else ''} off until they are set "
        f"(in the environment or {safe(where)}):"
    )
    for feature in off:
        console.print(literal(f"  {feature.sentence}"))
        for name in feature.variables:
            if name in config.env:
                console.print(literal(f"      {name}: {config.env[name]}"), style="dim")
    console.print()


def init(
    profile: str = typer.Option(
        "default",
        "--profile",
        help="Starter to write: default or voiceaitraining (the seed's stack).",
    ),
    directory: Path = typer.Option(Path("."), "--dir", help="Where to write opsbook.yaml."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing opsbook.yaml."),
) -> None:
    """Write a commented starter opsbook.yaml, and a .env.example listing the variables
    it reads with where to find each value.

    Example: opsbook init --profile voiceaitraining
    """
    if profile not in profile_names():
        fail(f"no profile {profile!r}; choose one of: {', '.join(profile_names())}")
    target = directory / "opsbook.yaml"
    example = directory / ENV_EXAMPLE
    if target.exists() and not force:
        fail(f"{target} already exists; pass --force to overwrite it")
    text = profile_text(profile)
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    console.print(f"wrote {safe(target)} ({profile} profile)")
    if example.exists() and not force:
        console.print(f"kept the existing {safe(example)} (--force rewrites it)")
    else:
        example.write_text(env_example(text, config_name=target.name))
        console.print(f"wrote {safe(example)}: the variables it reads and where to find each")
    console.print(
        f"next: copy {safe(example)} to {safe(directory / ENV_FILE)}, fill in what you have, "
        "then run opsbook config check"
    )
