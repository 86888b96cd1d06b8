"""Read and validate runbooks; a runbook that does not validate never starts.

Built-in runbooks ship in `builtin/`; a team's own live in the folders named by
`runbooks.paths` in the config and override a built-in of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from opsbook import expressions
from opsbook.config import Config, ConfigError, ConfigIssue
from opsbook.config.explain import did_you_mean, explain_error
from opsbook.config.source import Located, YamlSyntaxError, load_yaml
from opsbook.runbooks.actions import Registry
from opsbook.runbooks.inputs import literal_templates
from opsbook.runbooks.model import Runbook, Step

BUILTIN_DIR = Path(__file__).parent / "builtin"


class RunbookError(ConfigError):
    """A runbook that does not validate: every issue names file, line and column."""


@dataclass(frozen=True)
class RunbookSource:
    name: str
    path: Path
    builtin: bool


def load_runbook(path: Path, *, registry: Registry) -> Runbook:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunbookError([ConfigIssue(str(path), 1, 1, "", f"cannot read: {exc}")]) from None
    return parse_runbook(text, file=str(path), registry=registry)


def parse_runbook(text: str, *, file: str, registry: Registry) -> Runbook:
    try:
        doc = load_yaml(text, file=file, expand=False)
    except YamlSyntaxError as exc:
        raise RunbookError([exc.issue]) from None
    if not isinstance(doc.data, dict):
        raise RunbookError([doc.issue((), "a runbook is a mapping with name, title and steps")])
    try:
        runbook = Runbook.model_validate(doc.data)
    except ValidationError as exc:
        raise RunbookError([explain_error(doc, e, Runbook) for e in exc.errors()]) from None
    issues = _check(doc, runbook, registry)
    if issues:
        raise RunbookError(issues)
    return runbook


def _check(doc: Located, runbook: Runbook, registry: Registry) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    seen: dict[str, int] = {}
    params = set(runbook.parameters)
    for index, step in enumerate(runbook.steps):
        where = ("steps", index)
        if step.id in seen:
            line = doc.position(("steps", seen[step.id], "id"))[0]
            issues.append(
                doc.issue((*where, "id"), f"duplicate step id {step.id!r} (first on line {line})")
            )
        if step.uses is not None:
            issues.extend(_check_action(doc, where, step, registry))
        for place, name in literal_templates(step, registry):
            bind = "sql_params" if step.sql is not None else "params"
            issues.append(
                doc.issue(
                    (*where, *place),
                    f"{name} cannot hold {{{{ }}}} templates: a value spliced into SQL can "
                    f"become SQL. Bind it instead: write %(name)s and give it in {bind}",
                )
            )
        earlier = list(seen)
        for field, text, is_expression in _texts(step):
            path = (*where, *field)
            try:
                if is_expression:
                    expressions.check_syntax(text)
                else:
                    expressions.check_template(text)
            except expressions.ExpressionError as exc:
                issues.append(doc.issue(path, str(exc)))
                continue
            own = [step.id] if field[0] == "expect" else []
            for ref in sorted(expressions.references(text, root="steps", expression=is_expression)):
                if ref not in earlier + own:
                    known = "; earlier steps: " + ", ".join(earlier) if earlier else ""
                    issues.append(
                        doc.issue(
                            path,
                            f"refers to step {ref!r}, which does not come before this one{known}",
                        )
                    )
            for ref in sorted(
                expressions.references(text, root="params", expression=is_expression)
            ):
                if ref not in params:
                    hint = did_you_mean(ref, sorted(params))
                    issues.append(
                        doc.issue(
                            path,
                            f"refers to parameter {ref!r}, which the"
                            f" runbook does not declare{hint}",
                        )
                    )
        seen.setdefault(step.id, index)
    return issues


def _check_action(
    doc: Located, where: tuple[str | int, ...], step: Step, registry: Registry
) -> list[ConfigIssue]:
    assert step.uses is not None
    if step.uses not in registry:
        hint = did_you_mean(step.uses, registry.names())
        return [doc.issue((*where, "uses"), f"unknown action {step.uses!r}{hint}")]
    model = registry.get(step.uses).inputs
    allowed = [f.alias or name for name, f in model.model_fields.items()]
    issues = []
    for key in step.with_:
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            issues.append(
                doc.issue(
                    (*where, "with", key), f"{step.uses} takes no input {key!r}{hint}", key=True
                )
            )
    missing = [
        name
        for name, f in model.model_fields.items()
        if f.is_required() and (f.alias or name) not in step.with_
    ]
    if missing:
        issues.append(
            doc.issue((*where, "with"), f"{step.uses} needs {', '.join(repr(m) for m in missing)}")
        )
    return issues


def _texts(step: Step) -> list[tuple[tuple[str | int, ...], str, bool]]:
    """Every expression (when, expect) and template string a step holds, with its path."""
    found: list[tuple[tuple[str | int, ...], str, bool]] = []
    if step.when is not None:
        found.append((("when",), step.when, True))
    if isinstance(step.expect, str):
        found.append((("expect",), step.expect, True))
    elif step.expect:
        found.extend((("expect", i), e, True) for i, e in enumerate(step.expect))

    def walk(value: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(value, str):
            found.append((path, value, False))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*path, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, (*path, i))

    walk(step.with_, ("with",))
    walk(step.sql_params, ("sql_params",))
    for name in ("run", "manual"):
        if getattr(step, name) is not None:
            walk(getattr(step, name), (name,))
    if step.http is not None:
        walk(step.http.model_dump(by_alias=True), ("http",))
    if step.notify is not None:
        walk(step.notify.model_dump(), ("notify",))
    return found


def discover(config: Config) -> dict[str, RunbookSource]:
    """Built-ins, then the config's folders (a team's runbook overrides a built-in)."""
    found = {p.stem: RunbookSource(p.stem, p, True) for p in sorted(BUILTIN_DIR.glob("*.yaml"))}
    for folder in config.runbooks.paths:
        directory = config.resolve_path(folder)
        if directory.is_dir():
            for path in sorted(directory.glob("*.y*ml")):
                found[path.stem] = RunbookSource(path.stem, path, False)
    return found


def find(config: Config, name: str) -> RunbookSource:
    sources = discover(config)
    if name in sources:
        return sources[name]
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return RunbookSource(path.stem, path, False)
    hint = did_you_mean(name, sorted(sources))
    raise KeyError(f"no runbook {name!r}{hint}; see: opsbook runbook list")
