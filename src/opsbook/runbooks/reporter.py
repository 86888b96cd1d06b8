"""How a run shows its progress on a terminal: one line as each step starts and ends."""

from __future__ import annotations

from opsbook.console import console, err, literal, safe
from opsbook.runbooks.model import Step
from opsbook.runbooks.records import StepRecord

_MARK = {
    "succeeded": "[green]ok[/]",
    "confirmed": "[green]confirmed[/]",
    "failed": "[bold red]FAILED[/]",
    "skipped": "[dim]skipped[/]",
    "waiting": "[yellow]waiting for a person[/]",
    "refused": "[bold yellow]not confirmed[/]",
}


class ConsoleReporter:
    """Step progress; on stderr when stdout carries --json, so the JSON stays clean."""

    def __init__(self, total: int, *, quiet_stdout: bool = False) -> None:
        self.total = total
        self.out = err if quiet_stdout else console

    def step_started(self, position: int, step: Step, attempt: int, in_flight: bool) -> None:
        if in_flight:
            self.out.print(
                f"[yellow]step {step.id} was in flight when the run stopped "
                f"(attempt {attempt - 1}); retrying[/]"
            )
        self.out.print(f"[{position + 1}/{self.total}] {safe(step.title)} ...")

    def step_finished(self, position: int, step: Step, record: StepRecord) -> None:
        took = record.output.get("duration_ms")
        details = []
        if isinstance(record.output.get("rowcount"), int) and record.output["rowcount"] >= 0:
            details.append(f"{record.output['rowcount']} rows")
        elif isinstance(record.output.get("count"), int):
            details.append(f"count {record.output['count']}")
        if isinstance(took, int | float):
            details.append(f"{took:.0f} ms")
        mark = _MARK.get(record.status, safe(record.status))
        delivery = record.output.get("delivery")
        if record.status == "succeeded" and isinstance(delivery, str):
            # A notice says where it stands: "ok" for one only queued would be a lie.
            color = "green" if delivery == "delivered" else "yellow"
            mark = f"[{color}]{safe(delivery)}[/]"
        person = record.output.get("confirmed_by") or record.output.get("skipped_by")
        if isinstance(person, str):  # a manual step: a person's word, recorded as theirs
            mark += f" by {safe(person)}"
        suffix = f" ({', '.join(details)})" if details else ""
        self.out.print(f"[{position + 1}/{self.total}] {safe(step.title)}: {mark}{suffix}")
        posted = record.output.get("posted")
        if isinstance(posted, dict) and isinstance(posted.get("delivery"), str):
            # A deploy's post to #deploys: "ok" is the deploy's; the post says its own.
            self.out.print(
                literal(f"    post to {posted.get('channel')}: {posted['delivery']}", newlines=True)
            )
        if record.status == "refused" and isinstance(record.output.get("would"), str):
            self.out.print(literal(f"    would: {record.output['would']}", newlines=True))
        if record.status == "waiting":
            instruction = record.inputs.get("instruction", "")
            self.out.print(literal(f"    to do: {instruction}", newlines=True))
        elif record.error:  # a skip's reason too: "when ... is false"
            self.out.print(literal(f"    {record.error}", newlines=True))
