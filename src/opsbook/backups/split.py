"""Restoring a backup, the largest tables' rows loaded by several COPYs at once.

One `pg_restore -j N` loads each table with one COPY: a database that is mostly one
table restores at the speed of one backend on one core (2.9 GB on the bench: 112 s
against 120 s for the seed's `psql < f.sql`). Into an empty target, a table whose data
file is at least SPLIT_AT (compressed) is instead split across N streams: its rows cut
into newline-aligned chunks (split_feed.py), each stream a pg_restore of that one TABLE
DATA entry (`-L`) reading a shadow folder (toc.dat and a pipe under the table's file
name), so each COPY statement is pg_restore's own (column lists, generated columns).

That takes three runs of pg_restore instead of one, in the order of its own sections
(`--section`; pg_restore 15 restores each entry in exactly one of them):

1. pre-data: types, tables, functions, sequences, the table entries of large objects;
2. data, all at once: one `pg_restore -j N --section=data -L` of every entry but the
   split tables' rows (other tables, SEQUENCE SET, large objects), and the streams;
3. post-data, in stages (stages.py): first everything but foreign keys,
   materialized views' data and event triggers (indexes, primary keys, triggers, rules,
   policies, grants); then the foreign keys and the materialized views' refreshes at
   once; then comments and security labels (one may be on a foreign key) and the event
   triggers, which pg_restore also creates last. One pg_restore
   runs each FK on a table after the other (each takes a SHARE ROW EXCLUSIVE lock), and
   refreshes only after them; side by side they use both cores: on the bench's database
   3 FKs took 7.5 s and 2 refreshes 11 s, one after the other.

A run into a table it did not create in the same run does not TRUNCATE it first
(pg_restore 15 truncates only a table it created itself), so the streams add up. Any
failure stops every pg_restore before anything else happens; a restore over a non-empty
target (`clean`) stays one pg_restore, as before, and so does one with one job.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsbook.backups import archive, compare, files, loading, pgdump, stages, streaming
from opsbook.backups.errors import BackupError, BackupFailed
from opsbook.backups.split_feed import SplitFeeder

# A data file this large (compressed, as stored) has its rows split across the jobs.
SPLIT_AT = 64 * 1024 * 1024
EVERY = 0.2  # seconds between looks at the running pg_restores
STRAGGLE = 1.0  # seconds a feeder may take to end once all its streams have


@dataclass(frozen=True)
class SplitTable:
    """A table whose rows load in `streams` COPYs at once."""

    dump_id: int  # its TABLE DATA entry in the archive
    schema: str
    name: str
    file: str  # its data file in the backup's dump folder: "3350.dat.zst"
    bytes: int  # that file's size
    streams: int
    raw_bytes: int | None = None  # its size before compression, as the manifest says

    @property
    def shown(self) -> str:
        return compare.qualified(self.schema, self.name) if self.schema else self.name


@dataclass(frozen=True)
class Loaded:
    """Bytes of rows each stream of each split table was given, by table (`shown`)."""

    fed: dict[str, list[int]]


def plan_split(
    tool: pgdump.PgTool,
    backup: Path,
    manifest: dict[str, Any],
    *,
    jobs: int,
    clean: bool,
) -> list[SplitTable]:
    """The tables of the backup in `backup` whose rows a restore with `jobs` would split
    (none with `clean` or one job); reads only. The manifest names them."""
    if clean or jobs < 2:
        return []
    raw = _raw_sizes(manifest)
    found = []
    toc = archive.table_of_contents(tool, backup)
    for dump_id, schema, table in archive.table_data(toc, manifest["tables"]):
        for name in (f"{dump_id}.dat.zst", f"{dump_id}.dat"):
            path = backup / files.DUMP / name
            size = path.stat().st_size if path.is_file() else -1
            if size >= SPLIT_AT:
                raw_bytes = raw.get(name)
                found.append(SplitTable(dump_id, schema, table, name, size, jobs, raw_bytes))
    return found


def restore_backup(
    tool: pgdump.PgTool,
    backup: Path,
    url: str,
    *,
    work_root: Path,
    jobs: int,
    clean: bool = False,
    keep_owners: bool = True,
    manifest: dict[str, Any],
    split: Sequence[SplitTable] | None = None,
    sort_memory: str | None = None,
    tick: Callable[[int], None] = lambda _: None,
) -> Loaded:
    """The backup in `backup` (its `manifest`) restored into `url` (see the module's
    docstring), splitting `split` (by default what plan_split says); `tick` hears how many
    tables' rows are in; every session's maintenance_work_mem is `sort_memory`.
    BackupFailed naming what failed: a pg_restore and what it was restoring, or a file
    that did not decompress. No pg_restore is left running, whatever happens."""
    if split is None:
        split = plan_split(tool, backup, manifest, jobs=jobs, clean=clean)
    try:
        with streaming.streamed_copy(
            backup,
            work_root,
            leave={t.file for t in split},
            raw_bytes=_raw_sizes(manifest),
            table_of=_table_of(tool, backup, manifest),
        ) as dump:
            loads = _Loads(tool, backup, dump, url, jobs, keep_owners, sort_memory)
            return loads.run(clean, split, _checked(dump, tick))
    except BaseException:
        loading.end_restore_sessions(url)
        raise


@dataclass(frozen=True)
class _Loads:
    """One restore's pg_restore runs, reading the streamed folder `dump`."""

    tool: pgdump.PgTool
    backup: Path
    dump: streaming.Streamed
    url: str
    jobs: int
    keep_owners: bool
    sort_memory: str | None

    def run(self, clean: bool, split: Sequence[SplitTable], tick: Callable[[int], None]) -> Loaded:
        if not split:
            self._whole(clean, tick)
            return Loaded({})
        toc = archive.table_of_contents(self.tool, self.backup)
        sections = _Sections(
            self.tool,
            self.dump,
            self.url,
            jobs=self.jobs,
            keep_owners=self.keep_owners,
            sort_memory=self.sort_memory,
        )
        sections.run("pre-data", "the schema (pre-data)")
        fed = sections.load_data(toc, self.backup, split, tick)
        self.dump.finish()
        sections.post_data(toc)
        return Loaded(fed)

    def _whole(self, clean: bool, tick: Callable[[int], None]) -> None:
        """One pg_restore of everything (then one of the event triggers, into an empty
        target)."""
        toc = [] if clean else archive.table_of_contents(self.tool, self.backup)
        for options in stages.whole_then(stages.event_triggers(toc), toc, self.dump.folder):
            loading.restore_dump(
                self.tool,
                self.dump.folder,
                self.url,
                jobs=self.jobs,
                clean=clean,
                keep_owners=self.keep_owners,
                options=options,
                sort_memory=self.sort_memory,
                tick=tick,
            )
        self.dump.finish()


def _raw_sizes(manifest: dict[str, Any]) -> dict[str, int]:
    """Each dump file's size before compression, by name, where the manifest says."""
    prefix = f"{files.DUMP}/"
    return {
        f["path"][len(prefix) :]: f["raw_bytes"]
        for f in manifest["files"]
        if f["path"].startswith(prefix) and isinstance(f.get("raw_bytes"), int)
    }


def _table_of(
    tool: pgdump.PgTool, backup: Path, manifest: dict[str, Any]
) -> Callable[[str], str | None]:
    """Which table a data file holds ("3358.dat.zst" -> "public.t"), for an error: the
    archive's list is read when first asked."""
    known: dict[str, str] = {}

    def named(file: str) -> str | None:
        if not known:
            with contextlib.suppress(BackupError):
                toc = archive.table_of_contents(tool, backup)
                for dump_id, schema, table in archive.table_data(toc, manifest["tables"]):
                    known[str(dump_id)] = compare.qualified(schema, table) if schema else table
        return known.get(file.split(".", 1)[0])

    return named


def _checked(dump: streaming.Streamed, tick: Callable[[int], None]) -> Callable[[int], None]:
    """`tick`, after a look at the files being decompressed: BackupFailed at the first
    that failed, while pg_restore waits on its pipe (it is then stopped)."""

    def checked(done: int) -> None:
        dump.check()
        tick(done)

    return checked


@dataclass(frozen=True)
class _Run:
    what: str  # for an error: "the rows of public.t (stream 2 of 2)"
    table: SplitTable | None
    running: pgdump.Running


class _Sections:
    """The three pg_restore runs into one empty target."""

    def __init__(
        self,
        tool: pgdump.PgTool,
        dump: streaming.Streamed,
        url: str,
        *,
        jobs: int,
        keep_owners: bool,
        sort_memory: str | None,
    ) -> None:
        self.tool, self.dump, self.url = tool, dump, url
        self.jobs, self.keep_owners, self.sort_memory = jobs, keep_owners, sort_memory
        self.work = dump.folder.parent  # removed with the streamed folder

    def run(self, section: str, what: str, listed: Sequence[int] | None = None) -> None:
        options = [f"--section={section}"]
        if listed is not None:
            options.append(f"--use-list={self._list(f'{section}.list', list(listed))}")
        loading.restore_dump(
            self.tool,
            self.dump.folder,
            self.url,
            jobs=self.jobs,
            keep_owners=self.keep_owners,
            options=options,
            what=what,
            sort_memory=self.sort_memory,
        )

    def post_data(self, toc: Sequence[str]) -> None:
        """Post-data in its stages (see the module's docstring)."""
        staged = stages.post_data_stages(toc)
        what = "indexes, constraints and triggers (post-data)"
        if not staged.later and not staged.last:
            self.run("post-data", what)
            return
        self.run("post-data", what, staged.first(toc))
        later = stages.later_runs(toc, staged.later)
        runs = []
        try:
            for n, (what, ids) in enumerate(later):
                listed = self._list(f"post-data-{n}.list", ids)
                options = ["--section=post-data", f"--use-list={listed}"]
                runs.append(_Run(what, None, self._start(self.dump.folder, self.jobs, options)))
            _watch(runs, [], self.url, lambda _: None)
        except BaseException:
            for run in runs:
                run.running.stop()
            raise
        if staged.last:
            what = "comments, security labels and event triggers (post-data)"
            self.run("post-data", what, staged.last)

    def load_data(
        self,
        toc: Sequence[str],
        backup: Path,
        split: Sequence[SplitTable],
        tick: Callable[[int], None],
    ) -> dict[str, list[int]]:
        """Every table's rows, the split ones' in their streams, all at once."""
        feeders: list[tuple[SplitTable, SplitFeeder]] = []
        runs: list[_Run] = []
        try:
            for table in split:
                folders = [self._shadow(table, n) for n in range(table.streams)]
                pipes = [folder / f"{table.dump_id}.dat" for folder in folders]
                source = backup / files.DUMP / table.file
                feeder = SplitFeeder(source, pipes, raw_bytes=table.raw_bytes)
                feeders.append((table, feeder.start()))
                # One list for the table's streams, written before any of them reads it.
                listed = self._list(f"split-{table.dump_id}.list", [table.dump_id])
                runs += [self._stream(table, n, folder, listed) for n, folder in enumerate(folders)]
            runs.append(self._others(toc, split))
            _watch(runs, feeders, self.url, tick)
        except BaseException:
            for run in runs:
                run.running.stop()  # before the feeders: a pipe closed early is an end
            raise
        finally:
            for _, feeder in feeders:
                feeder.stop()
        return {table.shown: feeder.fed for table, feeder in feeders}

    def _shadow(self, table: SplitTable, n: int) -> Path:
        """A dump folder for one stream: the table of contents, and the table's data file
        as a pipe."""
        folder = self.work / f"split-{table.dump_id}-{n}"
        folder.mkdir()
        try:
            os.link(self.dump.folder / "toc.dat", folder / "toc.dat")
        except OSError:
            shutil.copyfile(self.dump.folder / "toc.dat", folder / "toc.dat")
        os.mkfifo(folder / f"{table.dump_id}.dat", stat.S_IRUSR | stat.S_IWUSR)
        return folder

    def _stream(self, table: SplitTable, n: int, folder: Path, listed: Path) -> _Run:
        running = self._start(folder, 1, [f"--use-list={listed}"])
        return _Run(
            f"the rows of {table.shown} (stream {n + 1} of {table.streams})", table, running
        )

    def _others(self, toc: Sequence[str], split: Sequence[SplitTable]) -> _Run:
        skipped = {t.dump_id for t in split}
        listed = self._list("others.list", [i for i in stages.ids(toc) if i not in skipped])
        options = ["--section=data", f"--use-list={listed}"]
        return _Run(
            "the other rows (data)", None, self._start(self.dump.folder, self.jobs, options)
        )

    def _list(self, name: str, ids: list[int]) -> Path:
        """A `pg_restore -L` file of bare entry ids: no name from the archive in it."""
        path = self.work / name
        path.write_text("".join(f"{i}\n" for i in ids))
        return path

    def _start(self, folder: Path, jobs: int, options: list[str]) -> pgdump.Running:
        return loading.start_restore(
            self.tool,
            folder,
            self.url,
            jobs=jobs,
            keep_owners=self.keep_owners,
            options=options,
            sort_memory=self.sort_memory,
        )


def _watch(
    runs: list[_Run],
    feeders: list[tuple[SplitTable, SplitFeeder]],
    url: str,
    tick: Callable[[int], None],
) -> None:
    """Until every pg_restore has ended well; BackupFailed at the first that did not, or
    at a split file that does not decompress (its streams would wait for rows forever)."""
    pending = list(runs)
    while pending:
        pending[0].running.poll(EVERY)  # a pause that ends early when it ends
        for run in list(pending):
            code = run.running.poll(0)
            if code is not None and code != 0:
                raise BackupFailed(loading.restore_failure(run.running, code, url, run.what))
            if code is not None:
                pending.remove(run)
        split = {r.table for r in runs if r.table} - {r.table for r in pending if r.table}
        for table, feeder in feeders:
            if feeder.failure is not None:
                raise BackupFailed(
                    f"cannot decompress the rows of {table.shown} ({table.file}): {feeder.failure}"
                )
            if table in split and not feeder.done(STRAGGLE):
                raise BackupFailed(
                    f"the streams of {table.shown} ended before all its rows were handed to"
                    " them: a pg_restore read no rows"
                )
        tick(runs[-1].running.finished + len(split))
