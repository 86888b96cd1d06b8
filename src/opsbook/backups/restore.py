"""`backup restore`: a backup (or the seed's plain `.sql` file) into a target database.

The plan is worked out first and reads only: which backup (its database and time) or
file, the target (password masked), the tables and rows to come, whether the target will
be cleaned, what it holds now, and whether it is the configured production database.
The doors decide from the plan what needs `--clean --yes` and what needs the database's
name typed; `restore` then acts on the plan it is given.

A backup restores through pipes decompressed as they are read (streaming.py) with
`pg_restore -j`; into an empty target the largest tables' rows load in several streams at
once, which the plan names (split.py). With `clean`, pg_restore drops each object of the
dump before making it again (`--clean --if-exists`): what the target holds that the dump
does not is left as it is. A plain file goes through psql, which cannot clean: the target
must be empty; psql runs it restricted, so a meta-command in it (`\\!`, `\\connect`) is
refused, never run (sqlfile).
Afterwards the rows are counted, and for a backup compared with its manifest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from opsbook.backups import archive, compare, loading, pgdump, split, sqlfile, targets
from opsbook.backups.archive import Difference
from opsbook.backups.create import Progress
from opsbook.backups.errors import BackupError
from opsbook.backups.snapshot import Counted, Snapshot
from opsbook.backups.split import SplitTable
from opsbook.backups.verify import complete_backup
from opsbook.clock import Clock
from opsbook.config.backups import BackupsConfig
from opsbook.config.secrets import mask_text, passwords_in
from opsbook.console import visible
from opsbook.postgres import queries
from opsbook.store import Store
from opsbook.store.audit import audited

MAX_JOBS = 64


@dataclass(frozen=True)
class Source:
    """What is restored: a backup of the catalog, or a plain SQL file."""

    backup: int | None
    database: str | None
    taken_at: dt.datetime | None
    path: Path
    pg_dump_version: str | None = None
    manifest: dict[str, Any] | None = None

    @property
    def tables(self) -> list[dict[str, Any]]:
        return list(self.manifest["tables"]) if self.manifest else []


@dataclass(frozen=True)
class RestorePlan:
    source: Source
    target: targets.Target
    server_major: int
    occupied: list[str]  # what the target holds now (at most 101 named)
    production: bool
    clean: bool
    jobs: int
    tool: pgdump.PgTool  # pg_restore for a backup, psql for a file
    # The target role is a superuser: a file's SQL (COPY ... TO PROGRAM, ALTER SYSTEM)
    # acts on the server itself, which the plan says before anything runs.
    superuser: bool = False
    # The tables whose rows load in several streams at once (split.py).
    split: list[SplitTable] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(t["rows"] for t in self.source.tables)


@dataclass
class Restored:
    counted: list[Counted] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    # Bytes of rows each stream of each split table was given, by table.
    fed: dict[str, list[int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.differences


def plan_restore(
    *,
    store: Store,
    backup_id: int,
    target_url: str,
    production_url: str | None,
    clean: bool,
    jobs: int,
    bindir: str | None,
) -> RestorePlan:
    """What restoring backup `backup_id` into `target_url` would do; reads only.
    BackupError (nothing run) for a bad target, no such backup or an unreadable one."""
    target = targets.parse(target_url)
    row = complete_backup(store, backup_id)
    if row.kind != "database":
        raise BackupError(
            f"backup {backup_id} is a {row.kind} backup: opsbook backup restore-files"
            f" {backup_id} DEST"
        )
    folder = Path(row.path)
    manifest = archive.load_manifest(folder, sha256=row.manifest_sha256)
    source = Source(row.id, row.database, row.started_at, folder, row.pg_dump_version, manifest)
    tool = archive.pg_restore(bindir, row.pg_dump_version or "0")
    plan = _plan(source, target, production_url, clean, jobs, lambda _major: tool)
    plan.split.extend(split.plan_split(tool, folder, manifest, jobs=jobs, clean=clean))
    return plan


def plan_sql_restore(
    *,
    sql_file: Path,
    target_url: str,
    production_url: str | None,
    clean: bool,
    bindir: str | None,
) -> RestorePlan:
    """What running the plain SQL file `sql_file` into `target_url` would do; reads only."""
    target = targets.parse(target_url)
    if clean:
        raise BackupError(
            "a plain SQL file cannot clean the target: restore it into an empty database"
        )
    if not sql_file.is_file():
        raise BackupError(f"{visible(sql_file)}: no such file")
    source = Source(None, None, None, sql_file.resolve())
    return _plan(source, target, production_url, False, 1, lambda major: _psql(bindir, major))


def _plan(
    source: Source,
    target: targets.Target,
    production_url: str | None,
    clean: bool,
    jobs: int,
    tool: Callable[[int], pgdump.PgTool],
) -> RestorePlan:
    if not 1 <= jobs <= MAX_JOBS:
        raise BackupError(f"jobs {jobs}: 1 to {MAX_JOBS}")
    production = is_production(target, production_url)
    major, occupied = inspect_target(target)
    superuser = source.manifest is None and _superuser(target)
    return RestorePlan(
        source, target, major, occupied, production, clean, jobs, tool(major), superuser
    )


def _superuser(target: targets.Target) -> bool:
    try:
        with queries.connect(target.url) as conn:
            return conn.info.parameter_status("is_superuser") == "on"
    except psycopg.Error:
        return False  # inspect_target has just reached it; a refusal now says nothing new


def is_production(target: targets.Target, production_url: str | None) -> bool:
    """Whether `target` is the configured production database (database.url), however
    either is spelled (targets.same_database)."""
    return production_url is not None and targets.same_database(
        target, production_url, what="database.url"
    )


def inspect_target(target: targets.Target) -> tuple[int, list[str]]:
    """The target's server major version and what it holds now."""
    try:
        with queries.connect(target.url) as conn:
            major = int(conn.info.server_version) // 10000
            found = queries.rows(conn, "restore_target_contents")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        said = mask_text(first, [target.url, *passwords_in(target.url)])
        raise BackupError(f"cannot connect to the target {target.shown}: {said}") from None
    names = [
        f"schema {r['schema']}"
        if r["kind"] == "schema"
        else compare.qualified(r["schema"], r["name"])
        for r in found
    ]
    return major, names


def restore(
    *,
    store: Store,
    plan: RestorePlan,
    settings: BackupsConfig,
    work_root: Path,
    actor: str,
    clock: Clock,
    progress: Callable[[Progress], None] = lambda _: None,
) -> Restored:
    """Restore as `plan` says, audited as `backup.restore`; BackupFailed with the
    program's words when it stops part-way (what it wrote stays in the target)."""
    source = plan.source
    details = {
        "backup": source.backup,
        "file": None if source.manifest is not None else str(source.path),
        "target": plan.target.shown,
        "clean": plan.clean,
        "production": plan.production,
    }
    with audited(
        store,
        action="backup.restore",
        target=plan.target.identity,
        actor=actor,
        details=details,
        secrets=[plan.target.url],
        clock=clock,
    ) as audit:
        done = _restore(plan, settings, work_root, progress)
        audit.details["rows"] = sum(c.rows for c in done.counted)
        audit.details["differences"] = [d.text() for d in done.differences[:50]]
        audit.outcome = "ok" if done.ok else "differs"
    return done


def _psql(bindir: str | None, server_major: int) -> pgdump.PgTool:
    """The psql for the target, refused before anything runs when it cannot be kept from
    running the file's meta-commands (sqlfile)."""
    return sqlfile.check_psql(
        pgdump.choose(
            server_major,
            pgdump.candidates(bindir, "psql"),
            program="psql",
            because=f"the target is PostgreSQL {server_major}",
        )
    )


def _restore(
    plan: RestorePlan,
    settings: BackupsConfig,
    work_root: Path,
    progress: Callable[[Progress], None],
) -> Restored:
    with _one_restore_at_a_time(plan):
        return _restore_held(plan, settings, work_root, progress)


# pg_advisory_lock keys are per database (the lock tag holds the database's OID), so one
# key serves every target: "opsbook restores here".
RESTORE_LOCK = 0x6F70_7362_7273  # "opsbrs"


@contextmanager
def _one_restore_at_a_time(plan: RestorePlan) -> Iterator[None]:
    """Hold the target's restore lock while acting, and check again, under it, that a
    target planned empty still is: two restores into one target never interleave."""
    with queries.connect(plan.target.url) as conn:
        held = conn.execute("select pg_try_advisory_lock(%s)", [RESTORE_LOCK]).fetchone()
        if not held or not held[0]:
            raise BackupError(f"another restore into {plan.target.shown} is running")
        if not plan.occupied and inspect_target(plan.target)[1]:
            raise BackupError(
                f"the target {plan.target.shown} is no longer empty (something was written"
                " into it since the plan)"
            )
        yield  # the lock ends with the session


def _restore_held(
    plan: RestorePlan,
    settings: BackupsConfig,
    work_root: Path,
    progress: Callable[[Progress], None],
) -> Restored:
    source, url = plan.source, plan.target.url
    lock_wait_ms = int(settings.lock_wait.total_seconds() * 1000)
    if source.manifest is None:
        loading.run_sql_file(plan.tool, source.path, url, sort_memory=settings.restore_sort_memory)
        return Restored(_count_all(url, lock_wait_ms))
    tables = source.tables
    state = Progress("restoring", len(tables))

    def tick(done: int) -> None:
        state.phase, state.tables_done = "restoring", min(done, len(tables))
        progress(state)

    loaded = split.restore_backup(
        plan.tool,
        source.path,
        url,
        work_root=work_root,
        jobs=plan.jobs,
        clean=plan.clean,
        manifest=source.manifest,
        split=plan.split,
        sort_memory=settings.restore_sort_memory,
        tick=tick,
    )

    def compared(done: int) -> None:
        state.phase, state.tables_done = "comparing", done
        progress(state)

    found = compare.compare(url, tables, lock_wait_ms=lock_wait_ms, done=compared)
    return Restored(found.counted, found.differences, loaded.fed)


def _count_all(url: str, lock_wait_ms: int) -> list[Counted]:
    """Each table's rows after a plain SQL restore (there is no manifest to compare)."""
    snapshot = Snapshot(url, lock_wait_ms=lock_wait_ms)
    try:
        return snapshot.count(snapshot.tables(), checksums=False, max_rows=0)
    finally:
        snapshot.close()
