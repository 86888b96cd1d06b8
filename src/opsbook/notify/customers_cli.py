"""`opsbook incident notify-customers ID [--dry-run]`: who gets what, and send it now."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from opsbook.console import console, fail, literal, print_json
from opsbook.context import app_context
from opsbook.incidents import service as incidents
from opsbook.incidents.cli_common import JSON, incident_number
from opsbook.store.audit import default_actor

if TYPE_CHECKING:
    from opsbook.notify.customers_send import CustomerPlan

SHOWN = 20  # recipients listed on a terminal; --json lists them all


def notify_customers(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only show who would get what; send nothing."
    ),
    as_json: bool = JSON,
) -> None:
    """Email customers (notify.customers) the incident's latest public update now, or its
    all-clear once resolved. Refused when there is no public update to send.

    Example: opsbook incident notify-customers 12 --dry-run
    """
    # Imported here: it brings Jinja2, the status page and the database's reads, and this
    # module is loaded with every `opsbook incident` command.
    from opsbook.notify import customers_send

    number = incident_number(incident_id)
    context = app_context(ctx)
    config = context.config(required=True)
    try:
        plan = customers_send.notify_customers(
            context.store(),
            config,
            incident_id=number,
            dry_run=dry_run,
            actor=default_actor(),
            clock=context.clock,
        )
    except (
        customers_send.CustomersError,
        customers_send.RecipientsError,
        customers_send.TemplateProblem,
        incidents.IncidentError,
    ) as exc:
        fail(str(exc))
    if as_json:
        print_json(plan)
    else:
        _print(plan)


def _print(plan: CustomerPlan) -> None:
    what = "all-clear" if plan.kind == "customer_all_clear" else "update"
    verb = "would be sent" if plan.dry_run else "queued for"
    console.print(
        literal(f"incident #{plan.incident_id}: customer email ({what}, {plan.step})"), style="bold"
    )
    if plan.recipients:
        console.print(literal(f"{verb} {len(plan.recipients)} recipients"))
    else:
        console.print("nothing new to send: every recipient already had this email")
    for address in plan.recipients[:SHOWN]:
        console.print(literal(f"  {address}"))
    if len(plan.recipients) > SHOWN:
        console.print(f"  ... and {len(plan.recipients) - SHOWN} more (--json lists them all)")
    if plan.already:
        console.print(literal(f"already sent it, not again: {len(plan.already)} recipients"))
    if plan.skipped_count:
        console.print(literal(f"skipped {plan.skipped_count} values that are not one address:"))
        for line in plan.skipped:
            console.print(literal(f"  {line}"))
    console.print(literal(f"\nSubject: {plan.subject}"))
    console.print(literal(plan.text, newlines=True))
