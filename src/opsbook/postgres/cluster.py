"""A throwaway PostgreSQL cluster: for the demo, the test suite and (later) restore drills.

PostgreSQL refuses to run as root, so when we are root the cluster is created and run
as the `postgres` system user. The server runs in its own session so that a Ctrl-C
meant for opsbook does not reach it; opsbook stops it itself, then removes its files.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql


class ClusterError(RuntimeError):
    pass


def find_bindir() -> Path:
    """`$OPSBOOK_PG_BINDIR`, else the newest /usr/lib/postgresql/N/bin, else PATH."""
    configured = os.environ.get("OPSBOOK_PG_BINDIR")
    if configured:
        return Path(configured)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise ClusterError(
        "PostgreSQL server binaries not found (no initdb): install them with "
        "`apt-get install postgresql` or set OPSBOOK_PG_BINDIR"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _conf_line(name: str, value: str) -> str:
    """`name = 'value'` for postgresql.conf, the value quoted as the file wants."""
    directive = name in ("include", "include_dir", "include_if_exists")  # files, not settings
    if directive or not re.fullmatch(r"[a-z][a-z0-9_.]*", name) or "\0" in value or "\n" in value:
        raise ClusterError(f"not a server setting: {name!r} = {value!r}")
    quoted = value.replace("\\", "\\\\").replace("'", "''")
    return f"{name} = '{quoted}'\n"


def _run_as() -> str | None:
    return "postgres" if os.geteuid() == 0 else None


@dataclass
class TempCluster:
    root: Path
    port: int
    bindir: Path
    user: str | None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    @classmethod
    def start(
        cls, *, port: int | None = None, settings: dict[str, str] | None = None
    ) -> TempCluster:
        """initdb into a fresh temp dir and start a server on 127.0.0.1 (trust auth)."""
        for name, value in (settings or {}).items():
            _conf_line(name, value)  # refused before anything is made
        bindir = find_bindir()
        user = _run_as()
        root = Path(tempfile.mkdtemp(prefix="opsbook-pg-"))
        cluster = cls(root=root, port=port or free_port(), bindir=bindir, user=user)
        try:
            if user:
                entry = pwd.getpwnam(user)
                os.chown(root, entry.pw_uid, entry.pw_gid)
            (root / "sock").mkdir()
            if user:
                os.chown(root / "sock", entry.pw_uid, entry.pw_gid)
            cluster._pg(
                "initdb",
                "-D",
                str(cluster.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
                "--no-instructions",
            )
            cluster._start_server(settings or {})
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _start_server(self, settings: dict[str, str]) -> None:
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root / "sock"),
            # A throwaway cluster trades durability for speed.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            **settings,
        }
        # In the config file, not pg_ctl's -o: pg_ctl hands -o to /bin/sh as text.
        with (self.datadir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("".join(_conf_line(k, v) for k, v in options.items()))
        self._pg(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(self.logfile),
            "-w",
            "-t",
            "60",
            "start",
            new_session=True,
        )

    def _pg(self, program: str, *args: str, new_session: bool = False) -> None:
        command = [str(self.bindir / program), *args]
        kwargs: dict[str, Any] = {}
        if self.user:
            kwargs["user"] = self.user
            kwargs["env"] = {**os.environ, "HOME": str(self.root)}
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            cwd=self.root,
            start_new_session=new_session,
            check=False,
            **kwargs,
        )
        if result.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise ClusterError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{log}".strip()
            )

    def url(self, dbname: str = "postgres", *, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def create_role(self, name: str) -> None:
        """A plain login role (not a superuser), like an app's own database user."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))

    def is_running(self) -> bool:
        return (self.datadir / "postmaster.pid").exists()

    def server_pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            return int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def create_database(
        self, name: str, *, template: str | None = None, owner: str | None = None
    ) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            if owner:
                query += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
            conn.execute(query)
        return self.url(name, user=owner or "postgres")

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove every file; safe to call twice."""
        if self.is_running():
            try:
                self._pg("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")
            except ClusterError:
                # Already gone (e.g. it received the terminal's SIGINT): nothing to stop.
                if self.is_running() and self.server_pid():
                    self._pg("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> TempCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
