from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from opsbook.postgres.cluster import ClusterError, TempCluster
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


def test_settings_are_values_never_shell_text(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    prefix = f"%m|$(touch {marker}) 'q'; `touch {marker}` \\ "
    cluster = TempCluster.start(settings={"log_line_prefix": prefix})
    try:
        with psycopg.connect(cluster.url()) as conn:
            assert conn.execute("show log_line_prefix").fetchone() == (prefix,)
    finally:
        cluster.stop()
    assert not marker.exists()


@pytest.mark.parametrize(
    "name, value",
    [
        ("x; rm", "1"),
        ("Port", "1"),
        ("work_mem", "1\nport = 1"),
        ("a", "\0"),
        ("include", "/tmp/x.conf"),
    ],
)
def test_a_setting_that_is_not_one_is_refused(name: str, value: str) -> None:
    with pytest.raises(ClusterError, match="not a server setting"):
        TempCluster.start(settings={name: value})


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
