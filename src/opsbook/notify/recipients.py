"""Who customer email goes to: the addresses in `notify.customers.recipients`, then those a
read-only query on the target database returns (the org admins), each checked to be one
plain address, de-duplicated, and capped.

The query is the operator's SQL, run as written but boxed in: inside a subquery (so it is
one SELECT: `select 1; commit; delete ...` is a syntax error, not an escape), sent with
the extended protocol (one statement per message), in a READ ONLY transaction with a
statement_timeout, reading at most `max_recipients + 1` rows. It waits on the network:
callers run it outside any store transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from opsbook.config import Config
from opsbook.config.notify import CustomersConfig, plain_address
from opsbook.config.secrets import mask_text
from opsbook.notify.message import cut, one_line
from opsbook.postgres.service import Unreachable, connect

QUERY_FIELD = "notify.customers.recipients_query"
SKIPPED_SHOWN = 50  # invalid values listed; the rest are counted


class RecipientsError(Exception):
    """No list to send to: the query failed, returned too many rows, or cannot run."""


@dataclass(frozen=True)
class Recipients:
    addresses: list[str]
    skipped: list[str]  # "value: why", each one visible line
    skipped_count: int = 0


def recipients(config: Config) -> Recipients:
    """The addresses customer email goes to now (see the module's note)."""
    customers = config.notify.customers
    values: list[object] = list(customers.recipients)
    if customers.recipients_query is not None:
        values += _query(config, customers)
    return _clean(values, customers.max_recipients)


def _query(config: Config, customers: CustomersConfig) -> list[object]:
    url = config.database.url
    off = config.off_reason("database")
    if url is None or off is not None or not url.reveal():
        raise RecipientsError(f"{QUERY_FIELD}: the target database is off ({off or 'no url'})")
    assert customers.recipients_query is not None
    limit = customers.max_recipients + 1
    text = customers.recipients_query.strip().rstrip(";")
    # The operator's own SQL from the config file: composed as text, never with a value in it.
    query = sql.SQL("select * from (\n{}\n) as recipients limit {}").format(
        sql.SQL(text), sql.Literal(limit)
    )
    timeout = int(customers.query_timeout.total_seconds() * 1000) or 1
    try:
        with connect(url.reveal()) as conn, conn.transaction():
            conn.execute("set transaction read only")
            conn.execute("select set_config('statement_timeout', %s, true)", (str(timeout),))
            with conn.cursor(binary=True) as cursor:
                cursor.execute(query)
                width = len(cursor.description or ())
                if width != 1:
                    raise RecipientsError(
                        f"{QUERY_FIELD} returns {width} columns; it must return one column"
                        " of email addresses"
                    )
                rows = cursor.fetchall()
    except Unreachable as exc:
        raise RecipientsError(f"{QUERY_FIELD}: {exc}") from None
    except psycopg.Error as exc:
        raise RecipientsError(f"{QUERY_FIELD} failed: {_first_line(exc, url.reveal())}") from None
    if len(rows) >= limit:
        raise RecipientsError(
            f"{QUERY_FIELD} returned more than {customers.max_recipients:,} rows"
            " (notify.customers.max_recipients); nothing was sent. Narrow the query"
            " or raise the cap"
        )
    return [row[0] for row in rows]


def _first_line(exc: psycopg.Error, url: str) -> str:
    text = str(exc).strip().splitlines()
    return cut(one_line(mask_text(text[0] if text else type(exc).__name__, [url])), 300)


def _clean(values: list[Any], cap: int) -> Recipients:
    """Plain addresses only, first spelling kept, compared without case; over `cap` refused."""
    seen: set[str] = set()
    addresses: list[str] = []
    skipped: list[str] = []
    count = 0
    for value in values:
        why = _problem(value)
        if why is not None:
            count += 1
            if len(skipped) < SKIPPED_SHOWN:
                skipped.append(cut(one_line(f"{value!r}: {why}"), 200))
            continue
        address = str(value).strip()
        if address.casefold() not in seen:
            seen.add(address.casefold())
            addresses.append(address)
    if len(addresses) > cap:
        raise RecipientsError(
            f"{len(addresses):,} recipients is more than notify.customers.max_recipients"
            f" ({cap:,}); nothing was sent"
        )
    return Recipients(addresses, skipped, count)


def _problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "not text"
    try:
        plain_address(value.strip())
    except ValueError:
        return "not one plain email address"
    return None
