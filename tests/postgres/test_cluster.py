from __future__ import annotations

import os

import psycopg

from opsbook.postgres.cluster import TempCluster
from opsbook.postgres.statements import split_statements
from tests.conftest import process_alive


def test_cluster_starts_serves_and_leaves_nothing() -> None:
    cluster = TempCluster.start()
    pid = cluster.server_pid()
    assert pid is not None
    with psycopg.connect(cluster.url()) as conn:
        assert conn.execute("select current_setting('listen_addresses')").fetchone() == (
            "127.0.0.1",
        )
    if os.geteuid() == 0:
        assert cluster.datadir.stat().st_uid != 0  # PostgreSQL refuses to run as root
    cluster.stop()
    assert not cluster.root.exists()
    assert not process_alive(pid)
    cluster.stop()  # twice is harmless


def test_split_statements_minds_quotes_comments_and_dollar_bodies() -> None:
    script = """
    -- a comment; with a semicolon
    create table t (a text default 'x;y');
    /* block; comment */ insert into t values ('it''s; fine');
    create function f() returns void language plpgsql as $body$
    begin perform 1; end;
    $body$;
    select $$;$$;
    """
    statements = split_statements(script)
    assert len(statements) == 4
    assert statements[1].endswith("values ('it''s; fine')")
    assert "perform 1; end;" in statements[2]
    assert statements[3] == "select $$;$$"


def test_split_statements_ignores_empty_and_comment_only_parts() -> None:
    assert split_statements(";;\n-- nothing\n;") == []
