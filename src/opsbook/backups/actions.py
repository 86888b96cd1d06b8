"""The runbook actions `backup.drill`, a thin adapter over backups.drill.run_drill (the
operation `opsbook drill` runs), and `backup.status`, over backups.freshness.judge (what
the `backup` check judges). A drill that finds a problem, or a backup that is stale or
missing, fails the step (its output holds the details), so the runbook shows it."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from opsbook.backups import app_check, freshness, records
from opsbook.backups import drill as drilling
from opsbook.backups.errors import BackupError
from opsbook.bounds import Id
from opsbook.config import Config, Duration, format_duration
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
    if done.report_error is not None:
        said = f"drill {done.id} passed and is recorded, but {done.report_error}"
        raise ActionFailed(said, output)
    return output


def _describe(inputs: DrillInputs) -> str:
    backup = f"backup {inputs.backup}" if inputs.backup else "a new backup"
    into = "the target database" if inputs.target else "a scratch database"
    app = f", then start the app ({inputs.app_cmd})" if inputs.app_cmd else ""
    return f"DR drill: restore {backup} into {into}, compare rows, checksums and schema{app}"


class StatusInputs(ActionInputs):
    # Default: backups.max_age, the `backup` check's threshold (26h).
    max_age: Duration | None = None


def _status(context: ActionContext, inputs: StatusInputs) -> dict[str, Any]:
    with context.store.reading() as session:
        judged = freshness.judge(
            session=session,
            now=context.clock.now(),
            max_age=inputs.max_age or context.config.backups.max_age,
            database=freshness.configured_database(context.config),
        )
    if judged.state != "ok":
        raise ActionFailed(judged.summary, judged.as_json())
    return judged.as_json()


def _describe_status(inputs: StatusInputs) -> str:
    limit = format_duration(inputs.max_age) if inputs.max_age else "backups.max_age"
    return f"the newest verified backup is at most {limit} old"


def register(registry: Registry) -> None:
    registry.register(
        Action(
            "backup.status",
            "Verify backup completion: the newest verified backup and its age.",
            StatusInputs,
            _status,
            _describe_status,
        )
    )
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
