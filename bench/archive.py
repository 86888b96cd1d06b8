"""Goal: archive old attempts online. opsbook's batched archival versus the seed's three
statements (INSERT..SELECT, DELETE, VACUUM FULL), side by side, while the app writes.

On N sandbox attempts (default 5,000,000, about a third older than a year) and a writer
that inserts and reads attempts every 10 ms, prints for each method: rows/s, the
longest the writer was blocked, the writer's p99 latency before and during, and rows
lost or duplicated (by count and checksum of both tables).
Goal: writer never blocked > 1 s, at least half the seed's throughput, nothing lost.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from opsbook.postgres import archive, archive_run
from opsbook.postgres.cluster import TempCluster
from opsbook.postgres.queries import connect
from opsbook.sandbox.schema import apply_schema
from opsbook.sandbox.seed import seed

CHECK = """
select count(*), coalesce(sum(hashtext(t::text)::bigint), 0),
       (select count(*) from scenario_attempts a join scenario_attempts_archive b using (id))
from (select * from scenario_attempts where id <= %(max)s
      union all select * from scenario_attempts_archive where id <= %(max)s) t
"""


class Writer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[tuple[float, float]] = []  # (start time, seconds)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name="web") as conn:
            user = conn.execute("select id from users limit 1").fetchone()
            scenario = conn.execute("select id from scenarios limit 1").fetchone()
            assert user and scenario
            while not self.stop.is_set():
                started = time.perf_counter()
                conn.execute(
                    "insert into scenario_attempts (org_id, user_id, scenario_id)"
                    " select org_id, id, %s from users where id = %s",
                    (scenario[0], user[0]),
                )
                conn.execute(
                    "select count(*) from scenario_attempts where user_id = %s", (user[0],)
                )
                self.samples.append((started, time.perf_counter() - started))
                self.stop.wait(0.01)

    def window(self, start: float, end: float) -> list[float]:
        return [s for t, s in self.samples if start <= t <= end]


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else max(values, default=0)


def seed_method(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(
            "insert into scenario_attempts_archive select * from scenario_attempts"
            " where ended_at < now() - interval '1 year'"
        )
        moved = cur.rowcount
        conn.execute("delete from scenario_attempts where ended_at < now() - interval '1 year'")
        conn.execute("vacuum full scenario_attempts")
    return moved


def opsbook_method(url: str) -> int:
    with connect(url) as conn:
        plan = archive.prepare(
            conn,
            table="scenario_attempts",
            to="scenario_attempts_archive",
            column="ended_at",
            older_than=dt.timedelta(days=365),
            with_referencing=True,
        )
        archive.create_archives(conn, plan)
        result = archive_run.run(conn, plan, pacing=archive_run.Pacing(batch=5000))
        archive.vacuum(conn, plan.source, full=False)
    return result.moved


def measure(name: str, url: str, method: Callable[[str], int]) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        row = conn.execute("select max(id) from scenario_attempts").fetchone()
        assert row is not None
        max_id = row[0]
        before = conn.execute(CHECK, {"max": max_id}).fetchone()
    writer = Writer(url)
    writer.thread.start()
    time.sleep(5)
    t0 = time.perf_counter()
    moved = method(url)
    t1 = time.perf_counter()
    time.sleep(1)
    writer.stop.set()
    writer.thread.join()
    with psycopg.connect(url) as conn:
        after = conn.execute(CHECK, {"max": max_id}).fetchone()
    assert before and after
    during = writer.window(t0, t1)
    return {
        "method": name,
        "moved": moved,
        "seconds": t1 - t0,
        "rows_per_s": moved / (t1 - t0),
        "blocked_max_s": max(during, default=0.0),
        "p99_before_ms": p99(writer.window(0, t0)) * 1000,
        "p99_during_ms": p99(during) * 1000,
        "lost": before[0] - after[0],
        "duplicated": after[2],
        "checksum_equal": before[1] == after[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attempts", type=int, default=5_000_000)
    parser.add_argument("--years", type=float, default=1.5)
    args = parser.parse_args()
    with TempCluster.start(settings={"max_wal_size": "4GB"}) as cluster:
        seeded = cluster.create_database("seeded")
        apply_schema(seeded)
        started = time.perf_counter()
        seed(seeded, attempts=args.attempts, years=args.years, rng=random.Random(5))
        print(f"seeded {args.attempts:,} attempts in {time.perf_counter() - started:.0f}s")
        results = []
        for name, method in (("seed", seed_method), ("opsbook", opsbook_method)):
            url = cluster.create_database(name, template="seeded")
            results.append(measure(name, url, method))
    print(
        f"{'method':8} {'moved':>10} {'rows/s':>9} {'blocked':>8} {'p99 before':>11}"
        f" {'p99 during':>11} {'lost':>5} {'dup':>4} checksum"
    )
    for r in results:
        print(
            f"{r['method']:8} {r['moved']:>10,} {r['rows_per_s']:>9,.0f}"
            f" {r['blocked_max_s']:>7.2f}s"
            f" {r['p99_before_ms']:>9.1f}ms {r['p99_during_ms']:>9.1f}ms {r['lost']:>5}"
            f" {r['duplicated']:>4} {'equal' if r['checksum_equal'] else 'DIFFERENT'}"
        )
    for r in results:
        if r["lost"] or r["duplicated"] or not r["checksum_equal"]:
            why = (
                " (rows that crossed the one-year boundary between its INSERT and its DELETE"
                " were deleted without being archived)"
                if r["method"] == "seed"
                else ""
            )
            print(
                f"LOSS: {r['method']} lost {r['lost']} and duplicated {r['duplicated']} rows{why}"
            )
    seed_rate, ours = results[0]["rows_per_s"], results[1]
    print(
        f"opsbook throughput: {ours['rows_per_s'] / seed_rate:.0%} of the seed's"
        f" (goal >= 50%); writer blocked at most {ours['blocked_max_s']:.2f}s (goal <= 1s)"
    )


if __name__ == "__main__":
    main()
