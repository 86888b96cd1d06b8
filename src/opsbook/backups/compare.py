"""Counting a restored database's rows against its backup's manifest.

The recount runs in the same kind of snapshot as the backup's (snapshot.Snapshot: the
same settings fix each row's text form), so a content checksum recorded at backup time
and one taken after a restore are equal exactly when the rows are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opsbook.backups.archive import Difference
from opsbook.backups.snapshot import Counted, Snapshot, Table

# Every table the manifest has a checksum for is checksummed again, whatever its size:
# the backup already read it once that way.
NO_LIMIT = 2**62


@dataclass(frozen=True)
class Compared:
    """Each table of the manifest as found after the restore, and what differs."""

    counted: list[Counted]
    differences: list[Difference]

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.counted)


def qualified(schema: str, name: str) -> str:
    return f"{schema}.{name}"


def compare(
    url: str,
    expected: list[dict[str, Any]],
    *,
    lock_wait_ms: int,
    done: Callable[[int], None] = lambda _: None,
) -> Compared:
    """Count (and checksum, where the manifest did) each table of `expected` in `url`;
    a table that is missing, or whose rows or checksum differ, is named."""
    snapshot = Snapshot(url, lock_wait_ms=lock_wait_ms)
    try:
        present = {(t.schema, t.name) for t in snapshot.tables()}
        counted: list[Counted] = []
        differences: list[Difference] = []
        for table in expected:
            key = (table["schema"], table["name"])
            name = qualified(*key)
            if key not in present:
                differences.append(Difference("table", name, f"{table['rows']:,} rows", "none"))
                continue
            checksum = table.get("checksum")
            [found] = snapshot.count([Table(*key, 0)], checksums=bool(checksum), max_rows=NO_LIMIT)
            counted.append(found)
            differences += _differences(name, table, found)
            done(len(counted))
        return Compared(counted, differences)
    finally:
        snapshot.close()


def _differences(name: str, table: dict[str, Any], found: Counted) -> list[Difference]:
    if found.rows != table["rows"]:
        return [Difference("table", name, f"{table['rows']:,} rows", f"{found.rows:,} rows")]
    checksum = table.get("checksum")
    if checksum and found.checksum != checksum:
        return [Difference("table", name, f"content checksum {checksum}", f"{found.checksum}")]
    return []
