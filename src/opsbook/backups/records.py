"""A drill's record: its row in the store (`drills`), its reports on disk (Markdown for a
person, JSON for a machine, the same facts), and for each problem it found an action
item on a P3 incident opened for the drill, so a problem has an owner and is not only a
line in a file nobody opens. The reports are written (as `.part` files) before the
store's transaction commits and renamed into place after it, so a report on disk always
has its record and is never half written. A report that cannot be written (a full disk)
does not lose the drill: it is recorded without reports, and `report_error` says why.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook.backups.models import Drill as DrillRow
from opsbook.clock import Clock
from opsbook.console import visible
from opsbook.incidents import service as incidents
from opsbook.jsonout import dumps
from opsbook.store import Store

MAX_ITEMS = 20
MAX_TITLE = 300
# What would make Markdown of outside text: emphasis, code, links, HTML, table cells.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>|~])")


@dataclass
class Stage:
    name: str  # backup, restore, rows, schema, app
    outcome: str  # passed, failed, skipped
    seconds: float
    saw: str


@dataclass
class Drill:
    """What a drill did, found and measured; `id` and `reports` once recorded."""

    backup: int
    took_backup: bool
    source: str | None
    target: str
    started_at: Any
    ended_at: Any = None
    stages: list[Stage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    rto_seconds: float | None = None
    id: int | None = None
    incident: int | None = None
    reports: dict[str, str] = field(default_factory=dict)
    report_error: str | None = None  # why the reports could not be written

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        return "passed" if self.ok else "failed"


@dataclass(frozen=True)
class PastDrill:
    """One drill as `opsbook drill list` shows it."""

    id: int
    started_at: dt.datetime
    backup: int
    took_backup: bool
    target: str
    verdict: str
    rto_seconds: float | None
    problems: int
    incident: int | None
    report: str


def record_drill(*, store: Store, drill: Drill, report_dir: Path, actor: str, clock: Clock) -> None:
    """Store the drill, open action items for its problems, write both reports; sets
    the drill's `id`, `incident` and `reports` (or `report_error`)."""
    written: list[Path] = []
    try:
        _record(store, drill, report_dir, actor, clock, written)
    except BaseException:
        _remove(written)  # the record was not stored: neither are its reports
        raise
    for part in written:
        os.replace(part, part.with_suffix(""))


def _record(
    store: Store, drill: Drill, report_dir: Path, actor: str, clock: Clock, written: list[Path]
) -> None:
    with store.session() as session:
        row = DrillRow(
            started_at=drill.started_at,
            ended_at=drill.ended_at,
            backup_id=drill.backup,
            took_backup=drill.took_backup,
            source=drill.source,
            target=drill.target,
            verdict=drill.verdict,
            rto_seconds=drill.rto_seconds,
            stages=[vars(s) for s in drill.stages],
            problems=drill.problems,
            report="",
            actor=actor,
        )
        session.add(row)
        session.flush()
        drill.id = row.id
        if drill.problems:
            drill.incident = row.incident_id = _action_items(session, drill, actor, clock)
        stem = report_dir / f"drill-{row.id}-{drill.started_at:%Y%m%dT%H%M%SZ}"
        drill.reports = {"markdown": f"{stem}.md", "json": f"{stem}.json"}
        _write_parts(drill, report_dir, written)
        row.report = drill.reports.get("markdown", "")


def _write_parts(drill: Drill, report_dir: Path, written: list[Path]) -> None:
    """Both reports written as `<report>.part`, each put in `written` before it is begun
    (whoever is interrupted removes them); none (and `report_error` set, the drill's
    `reports` emptied) when a write fails, leaving no part behind."""
    texts = [
        (Path(f"{drill.reports['json']}.part"), dumps(as_json(drill), indent=2) + "\n"),
        (Path(f"{drill.reports['markdown']}.part"), markdown(drill)),
    ]
    try:
        for part, text in texts:
            written.append(part)
            part.write_text(text, encoding="utf-8")
    except OSError as exc:
        _remove(written)
        written.clear()
        drill.reports = {}
        drill.report_error = (
            f"the reports could not be written in {visible(str(report_dir))}: {exc.strerror or exc}"
        )


def _remove(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def _action_items(session: Session, drill: Drill, actor: str, clock: Clock) -> int:
    """A P3 incident for the drill, an action item per problem (the first MAX_ITEMS;
    one more points at the report for the rest)."""
    count = len(drill.problems)
    incident = incidents.open_incident(
        session,
        title=f"DR drill {drill.id} found {count} problem(s) restoring backup {drill.backup}",
        severity="P3",
        actor=actor,
        clock=clock,
        component="database",
        message="The quarterly DR drill found what would go wrong in a real recovery.",
    )
    titles = [f"DR drill: {visible(p)[:MAX_TITLE]}" for p in drill.problems[:MAX_ITEMS]]
    if count > MAX_ITEMS:
        titles.append(f"DR drill: {count - MAX_ITEMS} more problem(s) in the drill's report")
    for title in titles:
        incidents.add_action(
            session, incident_id=incident.id, title=title, clock=clock, actor=actor
        )
    return incident.id


def as_json(drill: Drill) -> dict[str, Any]:
    """The drill as its JSON report and `opsbook drill --json` say it."""
    return {
        "id": drill.id,
        "verdict": drill.verdict,
        "backup": drill.backup,
        "took_backup": drill.took_backup,
        "source": drill.source,
        "target": drill.target,
        "started_at": drill.started_at.isoformat(),
        "ended_at": drill.ended_at.isoformat() if drill.ended_at else None,
        "rto_seconds": drill.rto_seconds,
        "rto_measured": "from the restore's start to the app healthy (or, without an app,"
        " to everything verified)",
        "checked": drill.checked,
        "stages": [{**vars(s), "seconds": round(s.seconds, 3)} for s in drill.stages],
        "problems": drill.problems,
        "incident": drill.incident,
        "reports": drill.reports,
        "report_error": drill.report_error,
    }


def markdown(drill: Drill) -> str:
    """The drill's report for a person; every outside text escaped as Markdown."""
    rto = f"{drill.rto_seconds:.1f} s" if drill.rto_seconds is not None else "none (not recovered)"
    lines = [
        f"# DR drill {drill.id}: {drill.verdict}",
        "",
        f"- started: {drill.started_at:%Y-%m-%d %H:%M:%S %Z}",
        f"- backup: {drill.backup} ({'taken by the drill' if drill.took_backup else 'existing'})",
        f"- source: {_md(drill.source or 'unknown')}",
        f"- restored into: {_md(drill.target)}",
        f"- RTO (restore start to app healthy, or to verified): {rto}",
        "",
        "## Checked",
        "",
        *(f"- {_md(c)}" for c in drill.checked),
        "",
        "## Stages",
        "",
        "| stage | outcome | seconds | saw |",
        "|---|---|---|---|",
        *(f"| {s.name} | {s.outcome} | {s.seconds:.2f} | {_md(s.saw)} |" for s in drill.stages),
        "",
        "## Problems",
        "",
        *([f"- {_md(p)}" for p in drill.problems] or ["None."]),
    ]
    if drill.incident is not None:
        lines += [
            "",
            f"Action items: incident #{drill.incident} (`opsbook incident show {drill.incident}`).",
        ]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Outside text as Markdown shows it literally: no link, no markup, no HTML, one line."""
    return _MARKDOWN.sub(r"\\\1", visible(text))


def list_drills(*, session: Session, limit: int = 100) -> list[PastDrill]:
    """Past drills, newest first."""
    query = select(DrillRow).order_by(DrillRow.started_at.desc(), DrillRow.id.desc()).limit(limit)
    return [
        PastDrill(
            id=row.id,
            started_at=row.started_at,
            backup=row.backup_id,
            took_backup=row.took_backup,
            target=row.target,
            verdict=row.verdict,
            rto_seconds=row.rto_seconds,
            problems=len(row.problems or []),
            incident=row.incident_id,
            report=row.report,
        )
        for row in session.scalars(query)
    ]
