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
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from opsbook.config.base import Model
from opsbook.config.durations import Interval, Timeout


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
