"""`opsbook oncall check|confirm|checks`: a test page to the person on call, and their
word that it reached them (oncall/check.py). A page that reached no channel exits 1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from opsbook.bounds import MAX_ID
from opsbook.console import Exit, Table, console, fail, literal, print_json
from opsbook.context import AppContext, app_context
from opsbook.oncall import check
from opsbook.oncall.service import OncallError
from opsbook.store.audit import default_actor

JSON = typer.Option(False, "--json", help="Print as JSON.")


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except OncallError as exc:
        fail(str(exc))


def _json(receipt: check.Receipt) -> dict[str, Any]:
    return {
        **vars(receipt),
        "sent_at": receipt.sent_at.isoformat(),
        "confirmed_at": receipt.confirmed_at.isoformat() if receipt.confirmed_at else None,
    }


def check_(
    ctx: typer.Context,
    schedule: str | None = typer.Option(
        None, "--schedule", "-s", help="The schedule (default: the first)."
    ),
    as_json: bool = JSON,
) -> None:
    """Send a TEST page to whoever is on call now, by the channels a P0 takes.

    The person confirms with `opsbook oncall confirm ID --by NAME`.
    Example: opsbook oncall check --schedule primary
    """
    context: AppContext = app_context(ctx)
    with _refusals():
        receipt, sent = check.check_delivery(
            store=context.store(),
            config=context.config(),
            schedule=schedule,
            actor=default_actor(),
            clock=context.clock,
        )
    if as_json:
        print_json({**_json(receipt), "deliveries": [vars(d) for d in sent]})
    else:
        console.print(
            literal(f"test page #{receipt.id} to {receipt.person} (on call in {receipt.schedule})")
        )
        for d in sent:
            console.print(
                literal(f"  {d.channel}: {d.status}{': ' + d.detail if d.detail else ''}")
            )
        console.print(literal(f"they confirm: opsbook oncall confirm {receipt.id} --by NAME"))
    if all(d.status == "failed" for d in sent):
        raise typer.Exit(Exit.FOUND)


def confirm(
    ctx: typer.Context,
    check_id: int = typer.Argument(..., metavar="ID", min=1, max=MAX_ID),
    by: str = typer.Option(..., "--by", help="Who got the page: a name in oncall.people."),
    as_json: bool = JSON,
) -> None:
    """Record that the test page reached its person.

    Example: opsbook oncall confirm 3 --by "Alice Smith"
    """
    context = app_context(ctx)
    with _refusals(), context.store().session() as session:
        receipt = check.confirm(
            session=session,
            oncall=context.config().oncall,
            check_id=check_id,
            by=by,
            actor=default_actor(),
            clock=context.clock,
        )
    if as_json:
        print_json(_json(receipt))
        return
    console.print(literal(f"test page #{receipt.id}: confirmed by {receipt.confirmed_by}"))


def checks(ctx: typer.Context, as_json: bool = JSON) -> None:
    """The latest test pages and who confirmed each.

    Example: opsbook oncall checks --json
    """
    with app_context(ctx).store().reading() as session:
        found = check.checks(session=session)
    if as_json:
        print_json([_json(r) for r in found])
        return
    table = Table("id", "sent", "to", "channels", "confirmed by")
    for r in found:
        table.add_row(
            f"#{r.id}",
            literal(f"{r.sent_at:%Y-%m-%d %H:%M %Z}"),
            literal(r.person),
            literal(", ".join(r.channels)),
            literal(r.confirmed_by or "not yet", "" if r.confirmed_by else "yellow"),
        )
    console.print(table)
