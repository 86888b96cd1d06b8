"""The production guard knows the production database however its place is spelled:
the servers are asked who they are (system identifier, database OID), so `127.1`, a
`hostaddr`, `localhost.` and the socket folder are all the production database; another
database of the same cluster is not."""

from __future__ import annotations

import pytest

from opsbook.backups import drill, restore, targets
from opsbook.backups.errors import BackupError
from opsbook.postgres.cluster import TempCluster


def _spellings(cluster: TempCluster, dbname: str) -> list[str]:
    port = cluster.port
    return [
        f"postgresql://postgres@127.1:{port}/{dbname}",
        f"host=prod.invalid hostaddr=127.0.0.1 port={port} dbname={dbname} user=postgres",
        f"postgresql://postgres@localhost.:{port}/{dbname}",
        f"host={cluster.root / 'sock'} port={port} dbname={dbname} user=postgres",
        f"postgresql://postgres@127.0.0.1:{port}/{dbname}?application_name=x",
    ]


def test_every_spelling_of_the_production_database_is_production(
    pg_cluster: TempCluster, pg_url: str
) -> None:
    dbname = pg_url.rsplit("/", 1)[1]
    for spelling in _spellings(pg_cluster, dbname):
        target = targets.parse(spelling)
        assert restore.is_production(target, pg_url), spelling
        with pytest.raises(BackupError, match="is the production database"):
            drill.check_target(spelling, pg_url)


def test_another_database_of_the_same_cluster_is_not_production(
    pg_cluster: TempCluster, pg_url: str
) -> None:
    other = pg_cluster.create_database("guard_other")
    try:
        assert not restore.is_production(targets.parse(other), pg_url)
        spelled = f"postgresql://postgres@127.1:{pg_cluster.port}/guard_other"
        assert not restore.is_production(targets.parse(spelled), pg_url)
    finally:
        pg_cluster.drop_database("guard_other")


def test_an_unreachable_production_falls_back_to_the_text(pg_url: str) -> None:
    gone = "postgresql://postgres@127.0.0.1:1/prod"
    assert not restore.is_production(targets.parse(pg_url), gone)
    assert restore.is_production(targets.parse("host=localhost port=1 dbname=prod"), gone)
