"""Database vitals, as data: used by `opsbook db ...` and (later) by the watch checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg

from opsbook.config import Config
from opsbook.postgres import queries
from opsbook.postgres.locks import LockSession, blocking_tree
from opsbook.postgres.rights import Visibility, visibility

State = Literal["ok", "warn", "crit", "info"]
LEAK_ACTIVE = 100  # the runbook: "If >100, connections are leaking"


@dataclass(frozen=True)
class Finding:
    check: str
    state: State
    value: str
    reason: str


@dataclass(frozen=True)
class ActiveQuery:
    """A query running now (`slow_queries.sql`), in this database or `other_database`;
    `blocked_by` names the sessions it waits on when it waits on a lock."""

    pid: int
    user: str | None
    application: str | None
    seconds: float
    wait_event_type: str | None
    query: str | None
    database: str | None
    other_database: bool
    blocked_by: list[int]


def active_queries(
    conn: psycopg.Connection[Any], *, min_seconds: float, limit: int
) -> list[ActiveQuery]:
    """Active client queries running at least `min_seconds`, longest first."""
    return queries.fetch(
        conn, "slow_queries", ActiveQuery, {"min_seconds": min_seconds, "limit": limit}
    )


@dataclass
class StatusReport:
    server: dict[str, Any]
    connections: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    long_queries: list[dict[str, Any]] = field(default_factory=list)
    blocked: list[LockSession] = field(default_factory=list)
    replicas: list[dict[str, Any]] = field(default_factory=list)
    visibility: Visibility | None = None

    @property
    def worst(self) -> State:
        order: list[State] = ["ok", "info", "warn", "crit"]
        return max((f.state for f in self.findings), key=order.index, default="ok")


@dataclass(frozen=True)
class Thresholds:
    connections_warn: float = 0.70
    connections_crit: float = 0.90
    disk_warn: float = 0.70
    disk_crit: float = 0.85
    long_query_warn: float = 60.0
    long_query_crit: float = 600.0
    blocked_crit: float = 60.0
    cache_hit_warn: float = 0.99
    replication_warn: float = 30.0
    replication_crit: float = 300.0
    wraparound_warn: float = 0.50
    wraparound_crit: float = 0.75

    @classmethod
    def from_config(cls, config: Config) -> Thresholds:
        """The seed's threshold table, as the config's alert rules state it."""
        rules = {r.metric: r for r in config.alerts.rules}
        values: dict[str, float] = {}
        for metric, prefix in (("db_connections_used", "connections"), ("db_disk_used", "disk")):
            rule = rules.get(metric)
            if rule and rule.warn is not None:
                values[f"{prefix}_warn"] = rule.warn
            if rule and rule.crit is not None:
                values[f"{prefix}_crit"] = rule.crit
        return cls(**values)


def _level(value: float, warn: float, crit: float) -> State:
    return "crit" if value > crit else "warn" if value > warn else "ok"


@dataclass(frozen=True)
class PoolUse:
    """Client connections against max_connections (less the superusers' reserve, which
    clients cannot take), judged against the seed's 70% warning and 90% critical."""

    total: int
    max_connections: int
    reserved: int
    state: State
    warn: float
    crit: float

    @property
    def usable(self) -> int:
        return self.max_connections - self.reserved

    @property
    def used(self) -> float:
        return self.total / self.usable if self.usable > 0 else 1.0

    @property
    def finding(self) -> Finding:
        return Finding(
            "connections",
            self.state,
            f"{self.total}/{self.usable} ({self.used:.0%})",
            f"warn above {self.warn:.0%}, critical above {self.crit:.0%} of max_connections",
        )

    def said(self) -> str:
        return (
            f"{self.total} of {self.usable} connections in use ({self.used:.0%}; "
            f"max_connections {self.max_connections} less {self.reserved} reserved): "
            f"{self.state} (warn above {self.warn:.0%}, critical above {self.crit:.0%})"
        )


def pool_use(conn: psycopg.Connection[Any], *, thresholds: Thresholds) -> PoolUse:
    """How full the connection pool is now."""
    server = queries.one(conn, "server_info")
    return _pool(server, queries.one(conn, "connection_states"), thresholds)


def _pool(server: dict[str, Any], states: dict[str, Any], thresholds: Thresholds) -> PoolUse:
    usable = server["max_connections"] - server["reserved_connections"]
    used = states["total"] / usable if usable > 0 else 1.0
    return PoolUse(
        total=states["total"],
        max_connections=server["max_connections"],
        reserved=server["reserved_connections"],
        state=_level(used, thresholds.connections_warn, thresholds.connections_crit),
        warn=thresholds.connections_warn,
        crit=thresholds.connections_crit,
    )


def human_seconds(value: float) -> str:
    """`42s`, `3m05s`, `1.5h`: a duration as a responder reads it."""
    if value < 60:
        return f"{value:.0f}s"
    if value < 3600:
        return f"{value // 60:.0f}m{value % 60:02.0f}s"
    return f"{value / 3600:.1f}h"


def human_bytes(value: float) -> str:
    """`512 B`, `1.5 MB`: a size in binary units."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def status(
    conn: psycopg.Connection[Any], *, thresholds: Thresholds, disk_quota: int | None = None
) -> StatusReport:
    """The server's vitals, each judged ok, info, warn or crit against `thresholds`."""
    server = queries.one(conn, "server_info")
    states = queries.one(conn, "connection_states")
    report = StatusReport(server=server, connections=states, visibility=visibility(conn))
    report.long_queries = queries.rows(conn, "slow_queries", {"min_seconds": 0, "limit": 5})
    report.blocked = blocking_tree(conn)
    report.replicas = queries.rows(conn, "replication")
    add = report.findings.append

    add(_pool(server, states, thresholds).finding)
    leaking = states["active"] > LEAK_ACTIVE
    add(
        Finding(
            "active",
            "crit" if leaking else "ok",
            str(states["active"]),
            "more than 100 active: connections are leaking" if leaking else "at most 100 active",
        )
    )
    if states["idle_in_transaction"]:
        add(
            Finding(
                "idle in transaction",
                "warn",
                str(states["idle_in_transaction"]),
                "sessions holding a transaction open while doing nothing (they hold locks)",
            )
        )
    longest = max((q["seconds"] for q in report.long_queries), default=0.0)
    add(
        Finding(
            "longest query",
            _level(longest, thresholds.long_query_warn, thresholds.long_query_crit),
            human_seconds(longest) if report.long_queries else "none",
            f"warn after {human_seconds(thresholds.long_query_warn)}, critical after "
            f"{human_seconds(thresholds.long_query_crit)}",
        )
    )
    add(_blocked_finding(report.blocked, thresholds))
    hit = queries.one(conn, "cache_hit")
    if hit.get("ratio") is not None:
        ratio = hit["ratio"]
        add(
            Finding(
                "cache hit",
                "warn" if ratio < thresholds.cache_hit_warn else "ok",
                f"{ratio:.2%}",
                f"warn below {thresholds.cache_hit_warn:.0%}: reads go to disk",
            )
        )
    size = server["database_bytes"]
    if disk_quota:
        share = size / disk_quota
        add(
            Finding(
                "database size",
                _level(share, thresholds.disk_warn, thresholds.disk_crit),
                f"{human_bytes(size)} of {human_bytes(disk_quota)} ({share:.0%})",
                f"warn above {thresholds.disk_warn:.0%}, critical above "
                f"{thresholds.disk_crit:.0%} of database.disk_quota",
            )
        )
    else:
        add(
            Finding(
                "database size",
                "info",
                human_bytes(size),
                "set database.disk_quota to compare against the plan's disk",
            )
        )
    if report.replicas:
        lag = max(r["replay_lag_seconds"] for r in report.replicas)
        add(
            Finding(
                "replication lag",
                _level(lag, thresholds.replication_warn, thresholds.replication_crit),
                human_seconds(lag),
                f"{len(report.replicas)} replica(s)",
            )
        )
    else:
        add(Finding("replication lag", "info", "no replicas", "nothing streams from this server"))
    timeout_ms = server["statement_timeout_ms"]
    if not timeout_ms:
        add(
            Finding(
                "statement_timeout",
                "warn",
                "unset",
                "a runaway query can run forever; the runbook advises setting it",
            )
        )
    else:
        add(
            Finding(
                "statement_timeout",
                "ok",
                human_seconds(timeout_ms / 1000),
                "runaway queries are cut off",
            )
        )
    wrap = queries.one(conn, "wraparound")
    used_xids = wrap.get("used", 0.0)
    add(
        Finding(
            "xid wraparound",
            _level(used_xids, thresholds.wraparound_warn, thresholds.wraparound_crit),
            f"{used_xids:.1%} used ({wrap.get('database')})",
            "transaction IDs left before PostgreSQL must stop to freeze",
        )
    )
    return report


def _blocked_finding(tree: list[LockSession], thresholds: Thresholds) -> Finding:
    """How long queries wait on locks, naming the root blockers: the sessions to act on
    (ending a waiter in the middle of a chain frees only its own waiters)."""
    waiters = [s for s in tree if s.blocked_by]
    if not waiters:
        return Finding("blocked queries", "ok", "none", "no query waits on a lock")
    # A hidden waiter's wait start can be unknown for a moment: count it, compare the rest.
    waited = max((s.waiting_seconds for s in waiters if s.waiting_seconds is not None), default=0.0)
    roots = [s.name for s in tree if s.depth == 0]
    return Finding(
        "blocked queries",
        "crit" if waited > thresholds.blocked_crit else "warn",
        f"{len(waiters)} waiting up to {human_seconds(waited)}",
        f"root blocker{'s' if len(roots) > 1 else ''}: {', '.join(roots)}",
    )
