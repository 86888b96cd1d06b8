"""`opsbook oncall escalation`: the escalation policies in words, and what they cover."""

from __future__ import annotations

import typer

from opsbook.console import console, literal, print_json
from opsbook.context import app_context
from opsbook.oncall.escalation import policies_view

JSON = typer.Option(False, "--json", help="Print as JSON.")


def escalation(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Show the escalation policies: who each level pages, after how long, what is covered.

    Example: opsbook oncall escalation --json
    """
    view = policies_view(app_context(ctx).config().escalation)
    if as_json:
        print_json(view)
        return
    if not view["policies"]:
        console.print("no escalation policies (escalation.policies in opsbook.yaml)")
        return
    for line in view["settings"]:
        console.print(literal(line))
    for policy in view["policies"]:
        console.print(literal(f"\n{policy['name']}: {policy['covers']}", "bold"))
        for line in policy["words"]:
            console.print(literal(f"  {line}"))
