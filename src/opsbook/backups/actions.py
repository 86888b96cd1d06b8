"""The runbook action `backup.drill`: a thin adapter over backups.drill.run_drill, the
same operation `opsbook drill` runs. A drill that finds a problem fails the step (its
output holds the drill's report), so the runbook stops where a person must look."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from opsbook.backups import app_check, records
from opsbook.backups import drill as drilling
from opsbook.backups.errors import BackupError
from opsbook.bounds import Id
from opsbook.config import Config
from opsbook.runbooks.actions import Action, ActionContext, ActionFailed, ActionInputs, Registry


class DrillInputs(ActionInputs):
    backup: Id | None = None
    target: str | None = None
    # Split into an argument list (shlex) and run without a shell: a value rendered into
    # it can only become an argument of the program it names, never a command.
    app_cmd: str | None = None
    app_url: str | None = None
    app_wait: int = Field(default=60, ge=1, le=3600)
    report_dir: str | None = None
    database_url: str | None = None


def _app(config: Config, inputs: DrillInputs) -> app_check.AppRun | None:
    if inputs.app_cmd is None:
        return None
    argv = app_check.parse_command(inputs.app_cmd)
    if inputs.app_url is not None:
        app_check.check_url(inputs.app_url)
    return app_check.AppRun(argv, config.app.health_path, inputs.app_url, float(inputs.app_wait))


def _check(config: Config, inputs: DrillInputs) -> None:
    try:
        _app(config, inputs)
    except BackupError as exc:
        raise ValueError(str(exc)) from None


def _drill(context: ActionContext, inputs: DrillInputs) -> dict[str, Any]:
    config = context.config
    configured = config.database.url.reveal() if config.database.url else None
    root = config.resolve_path(config.backups.dir)
    reports = config.resolve_path(inputs.report_dir) if inputs.report_dir else root / "drills"
    try:
        done = drilling.run_drill(
            store=context.store,
            config=config,
            ask=drilling.DrillAsk(
                source_url=inputs.database_url or configured,
                backup_id=inputs.backup,
                target_url=inputs.target,
                app=_app(config, inputs),
            ),
            root=root,
            report_dir=reports,
            actor=context.actor,
            clock=context.clock,
        )
    except BackupError as exc:
        raise ActionFailed(f"the drill did not run: {exc}") from None
    output = records.as_json(done)
    if not done.ok:
        raise ActionFailed(
            f"drill {done.id} found {len(done.problems)} problem(s): {done.problems[0]}", output
        )
    return output


def _describe(inputs: DrillInputs) -> str:
    backup = f"backup {inputs.backup}" if inputs.backup else "a new backup"
    into = "the target database" if inputs.target else "a scratch database"
    app = f", then start the app ({inputs.app_cmd})" if inputs.app_cmd else ""
    return f"DR drill: restore {backup} into {into}, compare rows, checksums and schema{app}"


def register(registry: Registry) -> None:
    registry.register(
        Action(
            "backup.drill",
            "DR drill: back up, restore into a scratch database, verify rows, schema, app.",
            DrillInputs,
            _drill,
            _describe,
            writes=lambda _i: True,
            check=_check,
        )
    )
