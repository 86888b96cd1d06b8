"""What the `opsbook backup` doors share: the --json option, a backup id typed on the
command line, the progress bar, and the folder where working copies go."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from opsbook.backups import create as creating
from opsbook.bounds import parse_id
from opsbook.console import err, fail
from opsbook.context import AppContext
from opsbook.postgres.diagnostics import human_bytes

JSON = typer.Option(False, "--json", help="Print as JSON.")


def backup_id(text: str) -> int:
    """A backup id as typed (`12`, `#12`); exit 2 naming the value for anything else."""
    try:
        return parse_id(text, "a backup id")
    except ValueError as exc:
        fail(f"{exc}; nothing was changed")


def work_root(context: AppContext) -> Path:
    """Where a restore's folder of pipes goes (streaming.py: nothing large is written
    there): beside the backups, a folder opsbook may write to."""
    config = context.config()
    return config.resolve_path(config.backups.dir)


@contextmanager
def progress_bar(*, show: bool) -> Iterator[Callable[[creating.Progress], None]]:
    """A bar of tables (or files) done and bytes written, on a terminal only."""
    if not show:
        yield lambda _: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} {task.fields[unit]}{task.fields[size]}"),
        console=err,
        transient=True,
    ) as bar:
        task: TaskID | None = None

        def update(step: creating.Progress) -> None:
            nonlocal task
            size = f", {human_bytes(step.bytes)}" if step.bytes else ""
            if task is None:
                task = bar.add_task(step.phase, total=step.tables, size=size, unit=step.unit)
            bar.update(
                task,
                description=step.phase,
                total=step.tables,
                completed=step.tables_done,
                size=size,
                unit=step.unit,
            )

        yield update
