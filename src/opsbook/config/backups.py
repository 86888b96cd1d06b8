"""The `backups:` section: where backups go, how they are made, and when the newest one
counts as too old.

Compression is `zstd` level 1 by default: pg_dump writes its table files uncompressed
(`-Z 0`, still in parallel with `-j`) and opsbook compresses each file with zstd
afterwards, `jobs` files at a time. Debian 12's pg_dump 15 knows only gzip. On the seeded
sandbox (400k attempts, a 73 MB plain dump in 1.75 s) `-Fd -j2 -Z1` took 2.47 s for
15.5 MB, `-Z6` 4.12 s for 11.8 MB, `-Z0` + zstd 1 2.41 s for 11.6 MB and + zstd 3 3.79 s
for 11.4 MB: zstd 1 is gzip 1's time at gzip 6's size. A restore that decompresses first
keeps `pg_restore -j` parallel (7.6 s against 8.2 s for the gzip dump).
`gzip` (pg_dump's own, level 1) and `none` are there for a host without room for the
uncompressed files while they are written.

`restore_sort_memory` is the `maintenance_work_mem` of a restore's sessions (the index
builds' sort memory). Smaller is faster here: the builds run `jobs` at a time, and a sort
whose runs fit the CPU's cache beats one that does not. On the bench's 7M-row table (a
2-core EPYC, 32 MB L3, text columns in C.UTF-8 where PostgreSQL 15 cannot abbreviate
keys) one index on a text column took 17.4 s at 4MB, 22.0 s at 16MB, 34.0 s at the
server's default 64MB and 50.6 s at 1GB; a timestamp column 9.1 s at every size.
`null` leaves the target server's own setting.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from opsbook.config.base import Model
from opsbook.config.durations import Interval, Timeout

MEMORY_SIZE = re.compile(r"([0-9]{1,10})(kB|MB|GB|TB)")
_UNITS = {"kB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3}


class BackupsConfig(Model):
    # Relative to the config file, like every path in opsbook.yaml.
    dir: str = Field(default="backups", min_length=1, max_length=4096)
    # pg_dump's -j: table files dumped at once (each a connection to the target).
    jobs: int = Field(default=2, ge=1, le=64)
    compression: Literal["zstd", "gzip", "none"] = "zstd"
    # zstd 1..19, gzip 1..9; default 1 for both (see above).
    level: int | None = Field(default=None, ge=1, le=19)
    # The `backup` check: warn once the newest verified backup is older than this.
    max_age: Interval = dt.timedelta(hours=26)
    # `db migrations apply` goes ahead without --no-backup when a verified backup of the
    # same database was taken this recently.
    fresh_for: Interval = dt.timedelta(hours=24)
    # How long pg_dump and the counting session wait for a table's ACCESS SHARE lock
    # before giving up (a DDL statement queued ahead would otherwise make the app's
    # queries queue behind the backup).
    lock_wait: Timeout = dt.timedelta(seconds=30)
    # --checksums reads every row of every table once more; a table with more rows than
    # this is counted but not checksummed, and the manifest says why.
    checksum_max_rows: int = Field(default=10_000_000, ge=0, le=2**53)
    # A folder holding pg_dump; else /usr/lib/postgresql/*/bin, then PATH.
    bindir: str | None = Field(default=None, max_length=4096)
    # maintenance_work_mem of the restore's sessions (see above): "4MB", "512kB", "1GB".
    restore_sort_memory: str | None = Field(default="4MB", max_length=32)

    @field_validator("restore_sort_memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is None:
            return None
        found = MEMORY_SIZE.fullmatch(value)
        if found is None:
            raise ValueError(f"{value!r}: a size with its unit, such as 4MB, 512kB or 1GB")
        kilobytes = int(found.group(1)) * _UNITS[found.group(2)]
        if not 1024 <= kilobytes <= 2**31 - 1:
            raise ValueError(f"{value!r}: PostgreSQL takes 1MB to 2047GB (maintenance_work_mem)")
        return value

    @model_validator(mode="after")
    def _level_fits(self) -> BackupsConfig:
        if self.level is not None and self.compression == "gzip" and self.level > 9:
            raise ValueError(f"level {self.level}: gzip levels are 1..9")
        if self.level is not None and self.compression == "none":
            raise ValueError("level is set but compression is none")
        return self

    def compression_level(self) -> int | None:
        """The level to use: the configured one, else 1."""
        if self.compression == "none":
            return None
        return self.level or 1
