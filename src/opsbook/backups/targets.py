"""Which database a connection string names, said one way whatever way it was written,
and which database a server says it is.

A restore refuses the production database, and the migrations gate asks for a backup "of
the same database": both compare host, port and database name, so
`postgresql://app:pw@LOCALHOST/app` and `host=127.0.0.1 port=5432 dbname=app user=ops`
are one database. The loopback names are one host (libpq's socket and TCP on this
machine reach the same server); a missing port is libpq's 5432, a missing database name
is the user's name (libpq's own default).

Text cannot see that `127.1`, the host's own address, `host.` or a socket path reach the
same server, so the production guard also asks both servers who they are (`server_identity`:
the cluster's system identifier, the database's OID) and takes either match as a match.

A target typed on the command line is checked before anything connects: no control
character (a NUL cannot go through libpq; an escape sequence would paint the terminal
when the plan is shown), a port that is a port, a host that is a host name, an address
or a socket folder.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict

from opsbook.backups.errors import BackupError
from opsbook.bounds import MAX_PORT
from opsbook.config.secrets import mask_shapes
from opsbook.console import visible
from opsbook.postgres import queries

LOOPBACK = frozenset({"", "localhost", "127.0.0.1", "::1", "[::1]"})
DEFAULT_PORT = 5432
_HOST = re.compile(r"^[A-Za-z0-9._:%\[\]-]{1,253}$")


@dataclass(frozen=True)
class Target:
    """A database named by a connection string: the string itself (secret), how it is
    shown (password masked), and its identity."""

    url: str
    shown: str
    host: str
    port: int
    dbname: str

    @property
    def identity(self) -> str:
        """`host:port/dbname`, the same for every way of writing one database."""
        return identity(self.host, self.port, self.dbname)


def identity(host: str | None, port: int | str | None, dbname: str) -> str:
    """The one spelling of a database's place, as the catalog records it."""
    where = (host or "").strip().lower().rstrip(".")  # `db.example.` is `db.example`
    if where in LOOPBACK or where.startswith("/"):
        where = "localhost"
    return f"{where}:{int(port or DEFAULT_PORT)}/{dbname}"


def of_connection(conn: psycopg.Connection[object]) -> str:
    """The identity of the database a live connection is on."""
    info = conn.info
    return identity(info.host, info.port, info.dbname)


def server_identity(url: str) -> str | None:
    """`<system identifier>/<database OID>`, the same for every spelling that reaches one
    database; None when it cannot be read (no connection, or a role that may not call
    pg_control_system())."""
    try:
        with queries.connect(url) as conn:
            found = queries.one(conn, "database_identity")
    except psycopg.Error:
        return None
    return f"{found['cluster']}/{found['oid']}" if found.get("cluster") else None


def same_database(target: Target, other_url: str, *, what: str) -> bool:
    """Whether `target` and `other_url` name one database: the same place written any
    way, or servers that say they are the same database."""
    other = parse(other_url, what=what)
    if other.identity == target.identity:
        return True
    theirs = server_identity(other.url)
    return theirs is not None and theirs == server_identity(target.url)


def parse(url: str, *, what: str = "the target") -> Target:
    """`url` as a Target; BackupError saying what is wrong with it, before any use."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise BackupError(f"{what} {visible(url[:200])!r} holds a control character")
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "cannot be read"
        raise BackupError(
            f"{what} {visible(mask_shapes(url)[:200])!r} is not a PostgreSQL connection"
            f" string: {visible(mask_shapes(reason))}"
        ) from None
    host = str(params.get("host") or "")
    port = _port(str(params.get("port") or DEFAULT_PORT), url, what)
    for one in filter(None, host.split(",")):
        if not (one.startswith("/") or _HOST.match(one)):
            raise BackupError(f"{what}'s host {visible(one[:200])!r} is not a host name")
    dbname = str(params.get("dbname") or params.get("user") or getpass.getuser())
    return Target(url, mask_shapes(url), host, port, dbname)


def _port(text: str, url: str, what: str) -> int:
    if text.isascii() and text.isdigit() and len(text) <= 5 and 1 <= int(text) <= MAX_PORT:
        return int(text)
    raise BackupError(f"{what}'s port {visible(text[:40])!r}: a number from 1 to {MAX_PORT}")
