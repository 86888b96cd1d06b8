"""Putting rows into a database: pg_restore of a dump folder, psql of a plain `.sql` file,
and scratch databases that are always dropped.

Both programs get argument lists, never shell text, and the connection string without
its password (which goes by PGPASSWORD, see pgdump.connection). A Ctrl-C or any failure
kills the program before the caller's clean-up runs, so a scratch database is never
dropped under a pg_restore still writing into it.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from opsbook.backups import pgdump, sqlfile
from opsbook.backups.errors import BackupError, BackupFailed
from opsbook.config.backups import MEMORY_SIZE
from opsbook.config.secrets import mask_text, passwords_in
from opsbook.console import visible
from opsbook.postgres import queries


def restore_dump(
    tool: pgdump.PgTool,
    dump: Path,
    url: str,
    *,
    jobs: int,
    clean: bool = False,
    keep_owners: bool = True,
    options: Sequence[str] = (),
    what: str = "",
    sort_memory: str | None = None,
    tick: Callable[[int], None] = lambda _: None,
) -> None:
    """pg_restore -j `jobs` of the dump folder into `url`, stopping at the first error;
    `tick` hears how many tables' rows are in so far. BackupFailed with its words (and
    `what` it was restoring, when said)."""
    running = start_restore(
        tool,
        dump,
        url,
        jobs=jobs,
        clean=clean,
        keep_owners=keep_owners,
        options=options,
        sort_memory=sort_memory,
    )
    try:
        code = running.wait(lambda: tick(running.finished))
    except BaseException:
        running.stop()
        raise
    if code != 0:
        raise BackupFailed(restore_failure(running, code, url, what))
    tick(running.finished)


def start_restore(
    tool: pgdump.PgTool,
    dump: Path,
    url: str,
    *,
    jobs: int,
    clean: bool = False,
    keep_owners: bool = True,
    options: Sequence[str] = (),
    sort_memory: str | None = None,
) -> pgdump.Running:
    """pg_restore started (see restore_dump), with `options` (`--section`, `-L`) before
    the folder and its sessions' maintenance_work_mem `sort_memory`; the caller waits for
    it, and stops it when anything goes wrong."""
    dbname, env = pgdump.connection(url)
    env = session_settings(env, sort_memory)
    argv = [str(tool.path), f"--jobs={jobs}", "--exit-on-error", "--verbose"]
    argv += ["--clean", "--if-exists"] if clean else []
    argv += [] if keep_owners else ["--no-owner", "--no-privileges"]
    argv += [*options, f"--dbname={dbname}", str(dump)]
    return pgdump.Running(argv, env, jobs, program="pg_restore")


def end_restore_sessions(url: str) -> None:
    """After a restore into `url` failed or was stopped: end the sessions pg_restore still
    has there. Its programs are killed, but PostgreSQL finishes a statement whose client
    is gone (a REFRESH, an index build) before it notices, holding its locks meanwhile.
    Best effort: a target that cannot be reached has no such session to end."""
    with contextlib.suppress(psycopg.Error), queries.connect(url) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = current_database() and application_name = 'pg_restore'"
            " and pid <> pg_backend_pid()"
        )


def restore_failure(running: pgdump.Running, code: int, url: str, what: str = "") -> str:
    """What a pg_restore that exited with `code` said, its password masked."""
    of = f" of {what}" if what else ""
    return f"pg_restore{of} exited with {code}: {_masked(running.error(), url)}"


def session_settings(env: dict[str, str], sort_memory: str | None) -> dict[str, str]:
    """`env` whose PGOPTIONS (which libpq sends with every connection the program opens)
    also sets maintenance_work_mem to `sort_memory` (a size the config checked, e.g.
    "4MB": no space or backslash in it), after any options the caller already had; a
    maintenance_work_mem among those is left to win."""
    given = env.get("PGOPTIONS", "")
    if sort_memory is None or "maintenance_work_mem" in given:
        return env  # the caller's own choice wins
    if not MEMORY_SIZE.fullmatch(sort_memory):
        raise BackupError(f"{visible(sort_memory)}: not a memory size such as 4MB")
    if (len(given) - len(given.rstrip("\\"))) % 2:
        raise BackupError(
            "PGOPTIONS ends with a backslash, which would escape the next option:"
            f" {visible(given)}; end it with a space or another backslash"
        )
    ours = f"-c maintenance_work_mem={sort_memory}"
    return {**env, "PGOPTIONS": f"{given} {ours}" if given.strip() else ours}


def run_sql_file(
    tool: pgdump.PgTool, file: Path, url: str, *, sort_memory: str | None = None
) -> None:
    """psql -X -v ON_ERROR_STOP=1 of FILE into `url` (the seed's `psql $DATABASE_URL <
    backup.sql`, stopping at the first error instead of going on past it), restricted so
    no meta-command in the file runs (sqlfile), its session's maintenance_work_mem
    `sort_memory`. BackupFailed naming the file's line of a refused meta-command, or
    psql's words."""
    dbname, env = pgdump.connection(url)
    env = session_settings(env, sort_memory)
    key = secrets.token_hex(16)
    argv = [str(sqlfile.check_psql(tool).path), "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    argv += ["-c", f"\\restrict {key}", "-f", "/dev/stdin", dbname]
    feeder = sqlfile.Feeder(file)
    try:
        running = pgdump.Running(argv, env, 1, program="psql", stdin=feeder.read_end)
    except OSError as exc:
        feeder.abandon()
        raise BackupFailed(f"psql did not start: {exc.strerror or exc}") from None
    feeder.start()
    try:
        code = running.wait(lambda: None)
    except BaseException:
        running.stop()
        raise
    finally:
        feeder.join()
    if code != 0:
        raise BackupFailed(_psql_failure(code, running.error(), file, url))


def _psql_failure(code: int, error: str, file: Path, url: str) -> str:
    line = sqlfile.refused_line(error)
    if line is not None:
        return (
            f"{visible(file)}:{line}: a psql meta-command (a backslash command such as \\!,"
            " \\connect or \\copy): refused, a .sql file is data; psql stopped there"
        )
    said = _masked(error, url).replace("psql:/dev/stdin:", f"psql:{visible(file.name)}:")
    return f"psql exited with {code}: {said}"


def _masked(text: str, url: str) -> str:
    return mask_text(text, [url, *passwords_in(url)])


def scratch_name(
    backup_id: int,
    token: Callable[[], str] = lambda: secrets.token_hex(4),
    *,
    purpose: str = "verify",
) -> str:
    """`opsbook_verify_<id>_<random>` (or `opsbook_drill_...`): never a database someone
    else made."""
    return f"opsbook_{purpose}_{backup_id}_{token()}"


@contextmanager
def scratch_database(server_url: str, name: str) -> Iterator[str]:
    """A new database `name` on the server of `server_url`, dropped afterwards whatever
    happens (failure, Ctrl-C); yields its connection string."""
    try:
        with queries.connect(server_url) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BackupError(
            f"cannot create the scratch database {name}: {_masked(first, server_url)}"
        ) from None
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with queries.connect(server_url) as conn:
            # WITH (FORCE) (PostgreSQL 13+): a session left behind cannot keep it alive.
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
