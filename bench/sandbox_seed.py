"""Goal: `opsbook sandbox seed` loads 1,000,000 attempts over 3 years well under a minute.

Prints rows/s and the wall time of each phase on a throwaway cluster.
"""

from __future__ import annotations

import argparse
import random
import time

import psycopg

from opsbook.postgres.cluster import TempCluster
from opsbook.sandbox.schema import apply_schema
from opsbook.sandbox.seed import seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--years", type=float, default=3.0)
    args = parser.parse_args()
    with TempCluster.start() as cluster:
        url = cluster.create_database("bench")
        apply_schema(url)
        started = time.perf_counter()
        summary = seed(url, attempts=args.attempts, years=args.years, rng=random.Random(1))
        elapsed = time.perf_counter() - started
        with psycopg.connect(url) as conn:
            size = conn.execute(
                "select pg_size_pretty(pg_total_relation_size('scenario_attempts'))"
            ).fetchone()
    print(f"attempts        {summary.attempts:,} ({summary.in_progress:,} in progress)")
    print(f"wall time       {elapsed:.1f} s (goal: well under 60 s)")
    print(f"rate            {summary.attempts / elapsed:,.0f} attempts/s")
    print(f"table size      {size[0] if size else '?'} with indexes")


if __name__ == "__main__":
    main()
