"""Run, dry-run and resume runbooks. Every step is persisted before and after it runs.

A step is marked `running` (committed) before it acts and `succeeded`/`failed` after,
so a run killed at any moment resumes where it stopped: finished steps are not repeated
and a step caught in flight is reported as such before it is retried. The state machine
and each transition's write stay in one module so that their order can be read.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook import expressions
from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.secrets import Masker, masking, secrets_of
from opsbook.incidents import service as incidents
from opsbook.runbooks.actions import Action, ActionContext, ActionFailed, Registry
from opsbook.runbooks.inputs import prepare
from opsbook.runbooks.model import Runbook, Step
from opsbook.runbooks.params import resumed, secret_values, without_secret_defaults
from opsbook.runbooks.processes import Interrupted, RunError, alive, refuse_if_still_running
from opsbook.runbooks.records import RunRecord, StepRecord
from opsbook.runbooks.scope import app_variables, incident_variables, unmet_expectation
from opsbook.store import Store
from opsbook.store.audit import audited

DONE = ("succeeded", "skipped", "confirmed")
IN_FLIGHT = ("running", "interrupted")


class Reporter(Protocol):
    def step_started(self, position: int, step: Step, attempt: int, in_flight: bool) -> None: ...

    def step_finished(self, position: int, step: Step, record: StepRecord) -> None: ...


class SilentReporter:
    def step_started(self, position: int, step: Step, attempt: int, in_flight: bool) -> None:
        pass

    def step_finished(self, position: int, step: Step, record: StepRecord) -> None:
        pass


@dataclass
class Interaction:
    """How the engine asks a human: `yes` pre-approves confirms; `done` marks manual steps.
    `choose` answers a manual step: y (done), n (not yet: the run waits) or s (not
    applicable: skipped)."""

    yes: bool = False
    interactive: bool = False
    ask: Callable[[str], bool] = lambda _question: False
    done: set[str] = field(default_factory=set)
    choose: Callable[[str], str] = lambda _question: "n"


@dataclass
class Engine:
    store: Store
    config: Config
    registry: Registry
    clock: Clock
    actor: str
    reporter: Reporter = field(default_factory=SilentReporter)

    def __post_init__(self) -> None:
        self.masker = Masker(secrets_of(self.config))

    # --- starting ---------------------------------------------------------------------

    def start(
        self, runbook: Runbook, *, source: str, params: dict[str, Any], incident_id: int | None
    ) -> int:
        masker = self.masker.extend(secret_values(runbook, params))
        with self.store.session() as session:
            if incident_id is not None:
                incidents.get(session, incident_id=incident_id)
            run = RunRecord(
                runbook=runbook.name,
                source=source,
                definition=without_secret_defaults(
                    runbook.model_dump(mode="json", by_alias=True, exclude_defaults=True)
                ),
                # Secrets are never stored: a resume asks for them again.
                params=masker.value(params),
                incident_id=incident_id,
                status="running",
                actor=self.actor,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=self.clock.now(),
            )
            session.add(run)
            session.flush()
            for position, step in enumerate(runbook.steps):
                session.add(
                    StepRecord(
                        run_id=run.id,
                        position=position,
                        step_id=step.id,
                        status="pending",
                        attempts=0,
                    )
                )
            self._timeline(
                session, run, "runbook.started", f"started runbook {runbook.name}: {runbook.title}"
            )
            return run.id

    # --- running and resuming -----------------------------------------------------------

    def claim(
        self, run_id: int, *, secrets: Mapping[str, str] | None = None
    ) -> tuple[RunRecord, Runbook, dict[str, Any]]:
        """Take a stopped run over for resuming; refuse one that is still alive elsewhere,
        or whose step's processes still run. Secret parameters are never stored, so they
        come again in `secrets` (name -> text as given to --param)."""
        with self.store.session() as session:
            run = session.scalars(
                select(RunRecord).where(RunRecord.id == run_id).with_for_update()
            ).first()
            if run is None:
                raise RunError(f"no run {run_id}")
            if run.status == "succeeded":
                raise RunError(f"run {run_id} already succeeded: nothing to resume")
            if (
                run.status == "running"
                and run.host == socket.gethostname()
                and run.pid
                and run.pid != os.getpid()
                and alive(run.pid)
            ):
                raise RunError(f"run {run_id} is still running (pid {run.pid}); not resuming it")
            runbook = Runbook.model_validate(run.definition)
            params = resumed(run_id, runbook, dict(run.params), secrets or {})
            for step in session.scalars(
                select(StepRecord).where(
                    StepRecord.run_id == run_id, StepRecord.status.in_(IN_FLIGHT)
                )
            ):
                refuse_if_still_running(run_id, step)
            run.pid, run.host, run.status = os.getpid(), socket.gethostname(), "running"
            run.finished_at = None
            return run, runbook, params

    def execute(
        self, run_id: int, runbook: Runbook, interaction: Interaction, params: dict[str, Any]
    ) -> str:
        """Run the steps not yet done. `params` are the run's values, secrets included
        (from `start`'s caller or from `claim`). Raises Interrupted after recording it."""
        self.masker = self.masker.extend(secret_values(runbook, params))
        with masking(self.masker):
            return self._execute(run_id, runbook, interaction, params)

    def _execute(
        self, run_id: int, runbook: Runbook, interaction: Interaction, params: dict[str, Any]
    ) -> str:
        with self.store.session() as session:
            run = session.get(RunRecord, run_id)
            assert run is not None
            incident_id = run.incident_id
            records = {
                r.position: r
                for r in session.scalars(select(StepRecord).where(StepRecord.run_id == run_id))
            }
        steps: dict[str, dict[str, Any]] = {}
        outcome = "succeeded"
        incident = incident_variables(self.store, incident_id)
        for position, step in enumerate(runbook.steps):
            record = records[position]
            if incident["id"] != incident_id:  # a step opened one
                incident = incident_variables(self.store, incident_id)
            context = {
                "params": params,
                "steps": steps,
                "incident": incident,
                "app": app_variables(self.config),
            }
            if record.status in DONE or (record.status == "failed" and step.on_fail == "continue"):
                steps[step.id] = {"status": record.status, "output": record.output}
                if record.status == "failed":
                    outcome = _worst(outcome, "failed")  # a resume does not undo a failure
                continue
            if (
                record.status == "waiting"
                and step.id not in interaction.done
                and not interaction.interactive
            ):
                steps[step.id] = {"status": "waiting", "output": {}}
                outcome = _worst(outcome, "waiting")
                if step.pauses:
                    break  # still not done: what follows it waits with it
                continue
            try:
                result = self._run_step(
                    run_id, position, step, record, context, incident_id, interaction
                )
            except Interrupted:
                self._interrupted(run_id, position, step)
                raise
            steps[step.id] = {"status": result.status, "output": result.output}
            if result.status == "refused":
                outcome = "refused"
                break
            if result.status == "waiting":
                outcome = _worst(outcome, "waiting")
                if step.pauses:
                    # What follows a manual step may depend on it (verify after the merge,
                    # apply after the local test): the run pauses until a person says done.
                    break
            if result.status == "failed" and step.on_fail == "stop":
                outcome = "failed"
                break
            if result.status == "failed":
                outcome = _worst(outcome, "failed")
            incident_id = self._incident_after(run_id, incident_id)
        self._finish(run_id, outcome)
        return outcome

    def _run_step(
        self,
        run_id: int,
        position: int,
        step: Step,
        record: StepRecord,
        context: dict[str, Any],
        incident_id: int | None,
        interaction: Interaction,
    ) -> StepRecord:
        in_flight = record.status in IN_FLIGHT
        if step.when is not None:
            try:
                go = bool(expressions.evaluate(step.when, context))
            except expressions.ExpressionError as exc:
                return self._save(
                    run_id,
                    position,
                    step,
                    "failed",
                    {},
                    {},
                    f"when could not be decided: {exc}",
                    started=None,
                )
            if not go:
                return self._save(
                    run_id,
                    position,
                    step,
                    "skipped",
                    {},
                    {},
                    f"when {step.when} is false",
                    started=None,
                )
        if step.manual is not None:
            return self._manual(run_id, position, step, context, interaction)
        try:
            action, inputs = prepare(step, context, self.registry)
        except (expressions.ExpressionError, ValueError) as exc:
            return self._save(run_id, position, step, "failed", {}, {}, str(exc), started=None)
        shown = inputs.model_dump(mode="json", by_alias=True)
        actx = self._action_context(run_id, position, step, incident_id)
        stale = action.stale(actx, inputs) if action.stale is not None else None
        if stale is not None:
            return self._save(run_id, position, step, "skipped", shown, {}, stale, started=None)
        needs_confirm = step.confirm or action.destructive or action.asks(inputs)
        if needs_confirm and not interaction.yes:
            would = _would(action, actx, inputs)
            question = f"{step.title}: {would}\nProceed?"
            if not (interaction.interactive and interaction.ask(question)):
                return self._save(
                    run_id,
                    position,
                    step,
                    "refused",
                    shown,
                    {"would": would},
                    "needs confirmation: run again with --yes",
                    started=None,
                )
        attempt = self._mark_running(run_id, position)
        self.reporter.step_started(position, step, attempt, in_flight)
        started = self.clock.now()
        ticks = time.monotonic()
        # A writing or confirmed step is audited before it acts (a step killed mid-way
        # shows as started with no end) and again with its outcome.
        audit = (
            audited(
                self.store,
                action=f"runbook.{action.name}",
                target=f"run {run_id} step {step.id}",
                actor=self.actor,
                details={"inputs": shown},
                secrets=self.masker.values,
                clock=self.clock,
            )
            if needs_confirm or action.writes(inputs)
            else nullcontext(None)
        )
        with audit as handle:
            try:
                output = action.run(actx, inputs)
                error = None
            except ActionFailed as exc:
                output, error = exc.output, str(exc)
            output["duration_ms"] = round((time.monotonic() - ticks) * 1000, 1)
            if error is None:
                error = unmet_expectation(step, context, output)
            if handle is not None:
                handle.outcome = "failed" if error else "ok"
                handle.details["error"] = error
        if actx.incident_id != incident_id:
            self._link(run_id, actx.incident_id)
        status = "failed" if error else "succeeded"
        return self._save(run_id, position, step, status, shown, output, error, started=started)

    def _action_context(
        self, run_id: int, position: int, step: Step, incident_id: int | None
    ) -> ActionContext:
        return ActionContext(
            config=self.config,
            store=self.store,
            clock=self.clock,
            actor=self.actor,
            timeout=step.timeout.total_seconds(),
            incident_id=incident_id,
            secrets=self.masker.values,
            run_label=f"run {run_id}",
            run_id=run_id,
            step_id=step.id,
            on_process=lambda pid: self._note_process(run_id, position, pid),
        )

    def _manual(
        self,
        run_id: int,
        position: int,
        step: Step,
        context: dict[str, Any],
        interaction: Interaction,
    ) -> StepRecord:
        try:
            text = str(expressions.render(step.manual, context))
        except expressions.ExpressionError:
            text = str(step.manual)
        # A person's word is recorded as theirs: "confirmed by alice" or "skipped by alice"
        # (not applicable here), never "succeeded", which opsbook cannot know.
        answer = "y" if step.id in interaction.done else "n"
        if answer == "n" and interaction.interactive:
            answer = interaction.choose(_manual_question(step, text))
        if answer in ("y", "s"):
            status, by = (
                ("confirmed", "confirmed_by") if answer == "y" else ("skipped", "skipped_by")
            )
            return self._save(
                run_id,
                position,
                step,
                status,
                {"instruction": text},
                {by: self.actor},
                None,
                started=self.clock.now(),
            )
        return self._save(
            run_id,
            position,
            step,
            "waiting",
            {"instruction": text},
            {},
            "waiting for a person to do this and confirm it",
            started=None,
        )

    # --- persistence ------------------------------------------------------------------

    def _mark_running(self, run_id: int, position: int) -> int:
        with self.store.session() as session:
            record = self._record(session, run_id, position)
            record.status, record.attempts = "running", record.attempts + 1
            record.started_at, record.actor = self.clock.now(), self.actor
            return record.attempts

    def _save(
        self,
        run_id: int,
        position: int,
        step: Step,
        status: str,
        inputs: dict[str, Any],
        output: dict[str, Any],
        error: str | None,
        *,
        started: Any,
    ) -> StepRecord:
        with self.store.session() as session:
            record = self._record(session, run_id, position)
            record.status = status
            record.inputs = self.masker.value(inputs)
            record.output = self.masker.value(output)
            record.error = self.masker.text(error) if error else None
            record.started_at = record.started_at or started
            record.finished_at = self.clock.now() if status not in ("waiting",) else None
            record.actor = self.actor
            run = session.get(RunRecord, run_id)
            assert run is not None
            detail = f": {record.error}" if record.error else ""
            if person := output.get("confirmed_by") or output.get("skipped_by"):
                detail = f" by {person}"
            if not detail and isinstance(output.get("delivery"), str):
                detail = f": {output['delivery']}"  # a notice: delivered, or queued
            posted = output.get("posted")
            if isinstance(posted, dict) and isinstance(posted.get("delivery"), str):
                detail += f"; post to {posted.get('channel')}: {posted['delivery']}"
            self._timeline(
                session,
                run,
                "runbook.step",
                f"[{run.runbook}] {step.id} {status}{detail}",
                data={"run": run_id, "step": step.id, "status": status},
            )
            session.flush()
            session.expunge(record)
        self.reporter.step_finished(position, step, record)
        return record

    def _record(self, session: Session, run_id: int, position: int) -> StepRecord:
        return session.scalars(
            select(StepRecord).where(StepRecord.run_id == run_id, StepRecord.position == position)
        ).one()

    def _note_process(self, run_id: int, position: int, pid: int) -> None:
        """Record the step's process group before waiting on it: a resume checks it."""
        with self.store.session() as session:
            record = self._record(session, run_id, position)
            record.output = {"process": {"pid": pid, "host": socket.gethostname()}}

    def _interrupted(self, run_id: int, position: int, step: Step) -> None:
        with self.store.session() as session:
            record = self._record(session, run_id, position)
            if record.status == "running":
                record.status, record.finished_at = "interrupted", self.clock.now()
                record.error = "interrupted: opsbook was told to stop (SIGTERM)"
            run = session.get(RunRecord, run_id)
            assert run is not None
            run.status, run.finished_at, run.pid = "interrupted", self.clock.now(), None
            self._timeline(
                session,
                run,
                "runbook.step",
                f"[{run.runbook}] {step.id} interrupted: opsbook was told to stop",
                data={"run": run_id, "step": step.id, "status": "interrupted"},
            )

    def _finish(self, run_id: int, outcome: str) -> None:
        with self.store.session() as session:
            run = session.get(RunRecord, run_id)
            assert run is not None
            run.status, run.finished_at, run.pid = outcome, self.clock.now(), None
            self._timeline(session, run, "runbook.finished", f"runbook {run.runbook}: {outcome}")

    def _link(self, run_id: int, incident_id: int | None) -> None:
        with self.store.session() as session:
            run = session.get(RunRecord, run_id)
            assert run is not None
            run.incident_id = incident_id

    def _incident_after(self, run_id: int, current: int | None) -> int | None:
        if current is not None:
            return current
        with self.store.session() as session:
            run = session.get(RunRecord, run_id)
            return run.incident_id if run else None

    def _timeline(
        self,
        session: Session,
        run: RunRecord,
        kind: str,
        text: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        if run.incident_id is None:
            return
        incident = incidents.get(session, incident_id=run.incident_id)
        incidents.log_event(
            session,
            incident=incident,
            kind=kind,
            actor=self.actor,
            clock=self.clock,
            text=self.masker.text(text),
            data=data or {"run": run.id},
        )


def _would(action: Action, context: ActionContext, inputs: Any) -> str:
    """What a person is asked to approve: the action's look at the target now when it has
    one, else what the inputs say."""
    if action.preview is None:
        return action.describe(inputs)
    try:
        return action.preview(context, inputs)
    except ActionFailed as exc:
        return f"{action.describe(inputs)} (could not look first: {exc})"


_RANK = ("succeeded", "waiting", "failed", "refused")


def _worst(outcome: str, new: str) -> str:
    """A run that failed a step and waits for a person still failed: exit 1 says so."""
    return max(outcome, new, key=_RANK.index)


def _manual_question(step: Step, text: str | None = None) -> str:
    return f"{step.title}\n  {text or step.manual}\nDone? y = done, n = not yet, s = not applicable"
