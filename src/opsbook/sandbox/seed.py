"""Realistic sandbox data, loaded with COPY: a million attempts in seconds, not minutes."""

from __future__ import annotations

import datetime as dt
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

_ALPHABET = string.ascii_letters + string.digits
_TITLES = (
    "Cold call: gatekeeper",
    "Discovery call",
    "Pricing objection",
    "Renewal at risk",
    "Angry customer refund",
    "Upsell to annual plan",
    "Demo follow-up",
    "Competitor switch",
    "Budget freeze",
    "Technical deep-dive",
    "Executive sponsor intro",
    "Contract negotiation",
)
_LEVELS = ("easy", "medium", "hard")
CHUNK = 50_000


@dataclass(frozen=True)
class SeedSummary:
    orgs: int
    users: int
    scenarios: int
    attempts: int
    in_progress: int


def _clerk_id(prefix: str, rng: random.Random) -> str:
    return prefix + "".join(rng.choices(_ALPHABET, k=27))


def seed(
    conninfo: str,
    *,
    attempts: int,
    years: float,
    orgs: int = 20,
    users_per_org: int = 25,
    scenarios: int = 40,
    rng: random.Random | None = None,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> SeedSummary:
    """Add orgs, users, scenarios and `attempts` attempts spread over `years` years."""
    if attempts < 0 or years <= 0 or orgs < 1 or users_per_org < 1 or scenarios < 1:
        raise ValueError("attempts must be >= 0; years, orgs, users and scenarios > 0")
    rng = rng or random.Random()
    now = now or dt.datetime.now(dt.UTC)
    with psycopg.connect(conninfo) as conn:
        org_ids = [_clerk_id("org_", rng) for _ in range(orgs)]
        users: list[tuple[str, str]] = []
        with conn.cursor() as cur:
            with cur.copy("copy orgs (id, name, created_at) from stdin") as copy:
                for i, org_id in enumerate(org_ids):
                    copy.write_row((org_id, f"Org {i + 1}", now - dt.timedelta(days=365 * years)))
            with cur.copy("copy users (id, org_id, email, role) from stdin") as copy:
                for o, org_id in enumerate(org_ids):
                    for u in range(users_per_org):
                        user_id = _clerk_id("user_", rng)
                        role = "admin" if u == 0 else "manager" if u < 3 else "trainee"
                        copy.write_row(
                            (user_id, org_id, f"{user_id.lower()}@org{o}.example.com", role)
                        )
                        users.append((user_id, org_id))
            first = cur.execute("select coalesce(max(id), 0) from scenarios").fetchone()
            with cur.copy("copy scenarios (org_id, title, difficulty) from stdin") as copy:
                for i in range(scenarios):
                    # Every fourth scenario belongs to the shared library (no org).
                    owner = None if i % 4 == 0 else org_ids[i % len(org_ids)]
                    copy.write_row(
                        (owner, f"{_TITLES[i % len(_TITLES)]} #{i + 1}", _LEVELS[i % len(_LEVELS)])
                    )
            scenario_ids = [
                row[0]
                for row in cur.execute(
                    "select id from scenarios where id > %s order by id",
                    (first[0] if first else 0,),
                )
            ]
            plan = _AttemptPlan(attempts, years, users, scenario_ids, rng, now, progress)
            in_progress = _copy_attempts(cur, plan)
        conn.commit()
        conn.autocommit = True
        conn.execute("refresh materialized view reporting_org_daily")
        conn.execute("refresh materialized view reporting_scenario_stats")
        conn.execute("analyze")
    return SeedSummary(orgs, len(users), len(scenario_ids), attempts, in_progress)


@dataclass(frozen=True)
class _AttemptPlan:
    count: int
    years: float
    users: list[tuple[str, str]]
    scenario_ids: list[int]
    rng: random.Random
    now: dt.datetime
    progress: Callable[[int], None] | None


def _copy_attempts(cur: psycopg.Cursor[Any], plan: _AttemptPlan) -> int:
    # Bulk load as PostgreSQL's "Populating a Database" advises: drop the foreign keys and
    # secondary indexes, COPY, then put them back: one validating join and one sorted
    # index build instead of per-row trigger lookups and random b-tree inserts. All in one
    # transaction, so nobody ever sees the table without them.
    rebuild = _detach_constraints(cur, "scenario_attempts") if plan.count >= 50_000 else []
    in_progress = _write_attempts(cur, plan)
    for statement in rebuild:
        cur.execute(statement)
    return in_progress


def _detach_constraints(cur: psycopg.Cursor[Any], table: str) -> list[str]:
    """Drop FKs and non-constraint indexes of `table`; return the DDL that restores them."""
    fks = cur.execute(
        "select conname, pg_get_constraintdef(oid) from pg_constraint"
        " where conrelid = %s::regclass and contype = 'f'",
        (table,),
    ).fetchall()
    indexes = cur.execute(
        "select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) from pg_index i"
        " where i.indrelid = %s::regclass and not exists"
        " (select 1 from pg_constraint c where c.conindid = i.indexrelid)",
        (table,),
    ).fetchall()
    ident = sql.Identifier(table)
    for name, _ in fks:
        cur.execute(
            sql.SQL("alter table {} drop constraint {}").format(ident, sql.Identifier(name))
        )
    for name, _ in indexes:
        cur.execute(sql.SQL("drop index {}").format(sql.Identifier(name)))
    restore = [definition for _, definition in indexes]
    restore += [
        sql.SQL("alter table {} add constraint {} ").format(ident, sql.Identifier(name)).as_string()
        + definition
        for name, definition in fks
    ]
    return restore


class _Timestamps:
    """Fast `YYYY-MM-DD HH:MM:SS+00` text: isoformat() per row costs seconds per million."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, epoch: int) -> str:
        day, rem = divmod(epoch, 86400)
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = dt.date.fromordinal(719163 + day).isoformat()
        hour, rem = divmod(rem, 3600)
        minute, second = divmod(rem, 60)
        return f"{text} {hour:02d}:{minute:02d}:{second:02d}+00"


def _write_attempts(cur: psycopg.Cursor[Any], plan: _AttemptPlan) -> int:
    count, users, scenario_ids, progress = plan.count, plan.users, plan.scenario_ids, plan.progress
    span = plan.years * 365 * 86400
    epoch = int(plan.now.timestamp())
    stamp = _Timestamps()
    random_ = plan.rng.random
    n_users, n_scenarios = len(users), len(scenario_ids)
    in_progress = 0
    # The queued writer sends from a second thread, so the server digests one chunk
    # while Python formats the next.
    with cur.copy(
        "copy scenario_attempts (org_id, user_id, scenario_id, started_at, ended_at, score,"
        " recording_path) from stdin",
        writer=QueuedLibpqWriter(cur),
    ) as copy:
        done = 0
        while done < count:
            lines = []
            for n in range(done, min(done + CHUNK, count)):
                user_id, org_id = users[int(random_() * n_users)]
                scenario = scenario_ids[int(random_() * n_scenarios)]
                age = int(random_() * span)
                start = epoch - age
                # Calls from the last half hour may still be running; a few old ones were
                # abandoned and never ended. Both keep ended_at NULL.
                if (age < 1800 and random_() < 0.5) or random_() < 0.002:
                    in_progress += 1
                    lines.append(
                        f"{org_id}\t{user_id}\t{scenario}\t{stamp(start)}\t\\N\t\\N\t\\N\n"
                    )
                    continue
                ended = stamp(start + 120 + int(random_() * 1080))
                lines.append(
                    f"{org_id}\t{user_id}\t{scenario}\t{stamp(start)}\t{ended}"
                    f"\t{random_() * 100:.2f}\trecordings/{org_id}/{n:09d}.mp3\n"
                )
            copy.write("".join(lines))
            done += len(lines)
            if progress:
                progress(len(lines))
    return in_progress
