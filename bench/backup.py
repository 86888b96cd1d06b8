"""Goal: backups that are small and quick to take and to restore. opsbook's `backup
create`, `verify` (and `verify --deep`) and `restore` versus the seed's `pg_dump > f.sql`
+ `psql < f.sql` and versus `pg_dump | gzip` + `gunzip -c | psql`, side by side in one
run on one sandbox database.

The database is seeded on a throwaway cluster: about 2 GB by default (`--size-gb`, about
212 bytes an attempt: 8M attempts made 1.7 GB), or `--attempts N`. Each restore goes into
a fresh database, whose rows are counted against the source's and then dropped. With
`--restores N` every method restores N times, the methods taking turns (this machine's
speed drifts by 10-20% over minutes: a plain psql restore of the same file took 84-93 s
within one hour), and the median counts, with the range beside it. The
seed's own check of a backup is `gunzip -c backup.sql.gz | head -n 50`; `gzip -t` (every
byte read and its CRC checked) is shown as the gzip dump's verify instead, which is
closer to what opsbook's verify does; the plain dump has none.
Goals: a compressed backup at most 1.5x the plain dump's time at under 40% of its size,
and a restore at least 1.5x faster than `psql < f.sql`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from opsbook.backups import create, restore, verify
from opsbook.clock import SystemClock
from opsbook.config.backups import BackupsConfig
from opsbook.postgres.cluster import TempCluster
from opsbook.sandbox.schema import apply_schema
from opsbook.sandbox.seed import seed
from opsbook.store import Store, open_store

BYTES_PER_ATTEMPT = 212  # 8M attempts: 1.7 GB (issue #15)
TABLES = ("scenario_attempts", "users", "orgs", "scenarios")


@dataclass
class Row:
    method: str
    backup_s: float
    size: int
    verify_s: float | None
    restore: Callable[[str], None]  # into a fresh database's URL
    deep_s: float | None = None
    restores: list[float] = field(default_factory=list)

    @property
    def restore_s(self) -> float:
        return statistics.median(self.restores)

    def shown_restore(self) -> str:
        if len(self.restores) < 2:
            return f"{self.restore_s:.1f}s"
        return f"{self.restore_s:.1f}s ({min(self.restores):.1f}-{max(self.restores):.1f})"


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        found = {}
        for table in TABLES:
            query = sql.SQL("select count(*) from {}").format(sql.Identifier(table))
            row = conn.execute(query).fetchone()
            found[table] = row[0] if row else -1
    return found


@contextmanager
def target(cluster: TempCluster, name: str, expected: dict[str, int]) -> Iterator[str]:
    """A fresh database to restore into; its rows are checked, then it is dropped."""
    url = cluster.create_database(name)
    try:
        yield url
        found = counts(url)
        if found != expected:
            raise SystemExit(f"{name}: restored {found}, expected {expected}")
    finally:
        cluster.drop_database(name)


def pipe(first: list[str], second: list[str], *, stdin: Path | None, stdout: Path | None) -> None:
    """`first | second` as two processes (argument lists, no shell), each checked."""
    with (
        open(stdin, "rb") if stdin else open("/dev/null", "rb") as source,
        open(stdout, "wb") if stdout else open("/dev/null", "wb") as sink,
    ):
        head = subprocess.Popen(first, stdin=source, stdout=subprocess.PIPE)
        assert head.stdout is not None
        tail = subprocess.run(second, stdin=head.stdout, stdout=sink, check=False)
        head.stdout.close()
        if head.wait() != 0 or tail.returncode != 0:
            raise SystemExit(f"{first[0]} | {second[0]}: {head.returncode}, {tail.returncode}")


def run(argv: list[str], *, stdin: Path | None = None, stdout: Path | None = None) -> None:
    with (
        open(stdin, "rb") if stdin else open("/dev/null", "rb") as source,
        open(stdout, "wb") if stdout else open("/dev/null", "wb") as sink,
    ):
        subprocess.run(argv, stdin=source, stdout=sink, check=True)


def seed_plain(cluster: TempCluster, url: str, work: Path) -> Row:
    dump = work / "f.sql"
    pg_dump, psql = str(cluster.bindir / "pg_dump"), str(cluster.bindir / "psql")
    backup_s = timed(lambda: run([pg_dump, url], stdout=dump))

    def restore(into: str) -> None:
        run([psql, "-X", "-q", into], stdin=dump)

    return Row("pg_dump > f.sql, psql < f.sql", backup_s, dump.stat().st_size, None, restore)


def seed_gzip(cluster: TempCluster, url: str, work: Path) -> Row:
    dump = work / "f.sql.gz"
    pg_dump, psql = str(cluster.bindir / "pg_dump"), str(cluster.bindir / "psql")
    backup_s = timed(lambda: pipe([pg_dump, url], ["gzip"], stdin=None, stdout=dump))
    verify_s = timed(lambda: run(["gzip", "-t", str(dump)]))

    def restore(into: str) -> None:
        pipe(["gunzip", "-c", str(dump)], [psql, "-X", "-q", into], stdin=None, stdout=None)

    method = "pg_dump | gzip, gunzip | psql"
    return Row(method, backup_s, dump.stat().st_size, verify_s, restore)


def opsbook(cluster: TempCluster, url: str, work: Path) -> Row:
    settings = BackupsConfig(dir=str(work / "backups"))
    store, clock = open_store(f"sqlite:///{work / 'opsbook.db'}"), SystemClock()
    made: list[create.Created] = []

    def backup() -> None:
        made.append(
            create.create_backup(
                store=store,
                url=url,
                settings=settings,
                root=work / "backups",
                label="bench",
                checksums=False,
                actor="bench",
                clock=clock,
            )
        )

    backup_s = timed(backup)
    created = made[0].backup

    def check(deep: bool) -> None:
        done = verify.verify_backup(
            store=store,
            backup_id=created.id,
            deep=deep,
            server_url=url,
            settings=settings,
            work_root=work / "backups",
            actor="bench",
            clock=clock,
        )
        if not done.ok:
            raise SystemExit(f"verify: {[d.text() for d in done.differences]}")

    verify_s = timed(lambda: check(False))
    deep_s = timed(lambda: check(True))
    return Row(
        f"opsbook ({settings.compression} {settings.compression_level()}, -j{settings.jobs})",
        backup_s,
        created.size_bytes or 0,
        verify_s,
        lambda into: _restore(store, created.id, into, settings, work),
        deep_s,
    )


def restore_in_turns(
    cluster: TempCluster, rows: list[Row], expected: dict[str, int], rounds: int
) -> None:
    """Each method restores `rounds` times, taking turns, each into a fresh database."""
    for n in range(rounds):
        for number, row in enumerate(rows):
            with target(cluster, f"restore_{n}_{number}", expected) as into:
                started = time.perf_counter()
                row.restore(into)
                row.restores.append(time.perf_counter() - started)


def _restore(
    store: Store,
    backup_id: int,
    into: str,
    settings: BackupsConfig,
    work: Path,
) -> None:
    plan = restore.plan_restore(
        store=store,
        backup_id=backup_id,
        target_url=into,
        production_url=None,
        clean=False,
        jobs=settings.jobs,
        bindir=settings.bindir,
    )
    done = restore.restore(
        store=store,
        plan=plan,
        settings=settings,
        work_root=work / "backups",
        actor="bench",
        clock=SystemClock(),
    )
    if not done.ok:
        raise SystemExit(f"restore: {[d.text() for d in done.differences]}")


def report(rows: list[Row], database_bytes: int) -> None:
    print(f"database        {database_bytes / 1e6:,.0f} MB (pg_database_size)")
    print(f"{'method':36} {'backup':>8} {'size':>10} {'verify':>8} {'deep':>8} {'restore':>8}")
    for r in rows:
        verify_s = "-" if r.verify_s is None else f"{r.verify_s:.1f}s"
        deep_s = "-" if r.deep_s is None else f"{r.deep_s:.1f}s"
        print(
            f"{r.method:36} {r.backup_s:>7.1f}s {r.size / 1e6:>8.1f}MB {verify_s:>8}"
            f" {deep_s:>8} {r.shown_restore():>8}"
        )
    plain, _gzip, ours = rows
    time_ratio, size_ratio = ours.backup_s / plain.backup_s, ours.size / plain.size
    faster = plain.restore_s / ours.restore_s
    backup_ok = time_ratio <= 1.5 and size_ratio < 0.4
    print(
        f"{'PASS' if backup_ok else 'MISS'} compressed backup at most 1.5x the plain dump's time"
        f" at under 40% of its size: {time_ratio:.2f}x the time, {size_ratio:.0%} of the size"
    )
    print(
        f"{'PASS' if faster >= 1.5 else 'MISS'} restore at least 1.5x faster than"
        f" psql < f.sql: {faster:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--attempts", type=int, help="instead of --size-gb")
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--restores", type=int, default=1, help="restores per method")
    args = parser.parse_args()
    attempts = args.attempts or int(args.size_gb * 1e9 / BYTES_PER_ATTEMPT)
    with (
        TempCluster.start(settings={"max_wal_size": "4GB"}) as cluster,
        tempfile.TemporaryDirectory(prefix="opsbook-bench-backup-") as folder,
    ):
        url = cluster.create_database("bench")
        apply_schema(url)
        started = time.perf_counter()
        seed(url, attempts=attempts, years=args.years, rng=random.Random(15))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("vacuum analyze")
            size_row = conn.execute("select pg_database_size(current_database())").fetchone()
        print(f"seeded {attempts:,} attempts in {time.perf_counter() - started:.0f}s")
        expected = counts(url)
        work = Path(folder)
        rows = [method(cluster, url, work) for method in (seed_plain, seed_gzip, opsbook)]
        restore_in_turns(cluster, rows, expected, max(1, args.restores))
    report(rows, size_row[0] if size_row else 0)


if __name__ == "__main__":
    main()
