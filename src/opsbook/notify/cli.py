"""`opsbook notify ...`: test a channel, look at the outbox, send a message again."""

from __future__ import annotations

import typer

from opsbook.bounds import parse_id
from opsbook.console import Exit, console, fail, literal, print_json, print_rows
from opsbook.context import app_context
from opsbook.notify import service
from opsbook.store.audit import default_actor

app = typer.Typer(help="Paging channels and the notification outbox.", no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print as JSON.")


@app.command("test")
def test(
    ctx: typer.Context,
    channel: str = typer.Argument(..., help="A channel's name from notify.channels."),
    as_json: bool = JSON,
) -> None:
    """Send a clearly marked test message through CHANNEL now and show what it answered.
    Exit 1 if it was not delivered.

    Example: opsbook notify test slack-incidents
    """
    context = app_context(ctx)
    config = context.config(required=True)
    try:
        result = service.send_test(
            context.store(),
            config,
            channel=channel,
            actor=default_actor(),
            clock=context.clock,
        )
    except service.NotifyError as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    else:
        word = "delivered" if result.outcome == "delivered" else f"NOT delivered ({result.outcome})"
        console.print(literal(f"{result.channel} ({result.kind}): {word}"))
        console.print(literal(f"answer: {result.answer}"))
    if result.outcome != "delivered":
        raise typer.Exit(Exit.FOUND)


@app.command("outbox")
def outbox(
    ctx: typer.Context,
    dead: bool = typer.Option(False, "--dead", help="Only messages that gave up."),
    limit: int = typer.Option(100, "--limit", min=1, max=10_000, help="At most this many."),
    as_json: bool = JSON,
) -> None:
    """Messages not delivered yet: waiting, being sent, or dead (with why).

    Example: opsbook notify outbox --dead
    """
    context = app_context(ctx)
    context.config()
    with context.store().reading() as session:
        rows = service.list_outbox(session, dead=dead, limit=limit)
    print_rows(
        rows,
        [
            ("id", lambda r: str(r.id)),
            ("channel", lambda r: literal(r.channel)),
            ("kind", lambda r: r.kind),
            ("incident", lambda r: f"#{r.incident_id}" if r.incident_id else "-"),
            ("status", lambda r: r.status),
            ("tries", lambda r: str(r.attempts)),
            ("next", lambda r: "-" if r.status == "dead" else f"{r.due_at:%Y-%m-%d %H:%M:%S}Z"),
            ("last answer", lambda r: literal(r.last_error or r.answer or "")),
        ],
        as_json=as_json,
        empty="no dead messages" if dead else "the outbox is empty: everything was delivered",
    )


@app.command("retry")
def retry(
    ctx: typer.Context,
    message: str = typer.Argument(..., help="The message's id, from `opsbook notify outbox`."),
    as_json: bool = JSON,
) -> None:
    """Send a dead (or waiting) message again now.

    Example: opsbook notify retry 42
    """
    try:
        message_id = parse_id(message, "an outbox message id")
    except ValueError as exc:
        fail(str(exc))
    context = app_context(ctx)
    context.config()
    try:
        with context.store().session() as session:
            row = service.retry(
                session, message_id=message_id, actor=default_actor(), clock=context.clock
            )
    except service.NotifyError as exc:
        fail(str(exc))
    if as_json:
        print_json(row)
        return
    console.print(literal(f"message #{row.id} to {row.channel} will be sent again now"))
