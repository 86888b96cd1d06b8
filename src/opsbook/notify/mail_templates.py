"""Customer email templates: files an operator edits. The packaged ones (`templates/`) are
the defaults; a folder named by `notify.customers.templates` overrides them file by file.

Each email is three files: `<name>_subject.txt`, `<name>.txt` and `<name>.html`. The
bounded sandbox runbooks use renders them (a template is text someone edits, not code
opsbook trusts, and it renders inside serve's customer round): every value-growing
operation is charged to a budget, and only `{% if %}` statements are allowed, since loops,
macros and includes nest into a render whose time has no bound. Undefined names are an
error rather than blanks, and autoescape is on for `.html` only: a public update saying
`<script>` shows as typed in the HTML part and as written in the text part."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    TemplateError,
    TemplateSyntaxError,
    nodes,
    select_autoescape,
)

from opsbook.config import Config
from opsbook.expressions.sandbox import BUDGET, budget, environment

DEFAULTS = Path(__file__).parent / "templates"
UPDATE, ALL_CLEAR = "customer_update", "customer_all_clear"
NAMES = (UPDATE, ALL_CLEAR)
PARTS = {"subject": "_subject.txt", "text": ".txt", "html": ".html"}
# What a template may read, with sample values `config check` renders them with.
SAMPLE: dict[str, Any] = {
    "service": "Example",
    "incident": {
        "name": "Major outage: Web app",
        "status": "investigating",
        "started": "2026-03-02 09:30 UTC",
        "resolved": "2026-03-02 10:40 UTC",
    },
    "update": {"body": "We are investigating.", "at": "2026-03-02 09:45 UTC"},
    "every": "30 min",
    "status_url": "https://status.example.com",
}


class TemplateProblem(Exception):
    """A template that does not load or render, in words naming its file and line."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def folder(config: Config) -> Path | None:
    chosen = config.notify.customers.templates
    return None if chosen is None else config.resolve_path(chosen)


# What a failing render raises besides Jinja's own errors (a recursion Jinja's parser
# hits, a value that does not support an operation): each one a TemplateProblem.
_FAILURES = (
    TemplateError,
    RecursionError,
    MemoryError,
    TypeError,
    ValueError,
    ArithmeticError,
    LookupError,
    AttributeError,
)


def _environment(overrides: Path | None) -> Environment:
    loaders: list[BaseLoader] = [FileSystemLoader(str(overrides))] if overrides else []
    return environment(
        loader=ChoiceLoader([*loaders, FileSystemLoader(str(DEFAULTS))]),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        keep_trailing_newline=True,
    )


def render(config: Config, name: str, values: dict[str, Any]) -> Rendered:
    """Email `name` (UPDATE or ALL_CLEAR) for `values`; TemplateProblem if a file is broken."""
    environment = _environment(folder(config))
    parts = {part: _render(environment, name + suffix, values) for part, suffix in PARTS.items()}
    return Rendered(**parts)


def _render(env: Environment, file: str, values: dict[str, Any]) -> str:
    path = file
    token = budget.set([BUDGET])
    try:
        assert env.loader is not None
        source, filename, _ = env.loader.get_source(env, file)
        path = filename or file
        _only_conditions(env.parse(source, file, path).body, path)
        return env.get_template(file).render(values)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"{exc.filename or path}:{exc.lineno}: {exc.message}") from None
    except _FAILURES as exc:
        said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TemplateProblem(f"{path}:{_line(exc, path)}: {said}") from None
    finally:
        budget.reset(token)


def _only_conditions(body: list[nodes.Node], path: str) -> None:
    for node in body:
        if isinstance(node, nodes.If):
            _only_conditions([*node.body, *node.elif_, *node.else_], path)
        elif not isinstance(node, nodes.Output):
            tag = type(node).__name__.lower()
            raise TemplateProblem(
                f"{path}:{node.lineno}: a {{% {tag} %}} statement is not allowed (customer"
                " templates hold text, {{ values }} and {% if %} only)"
            )


def _line(exc: Exception, path: str) -> int | str:
    """The template line a render error came from: Jinja rewrites its traceback so that
    the template's own frames carry the file's name and line."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
    return frames[-1].lineno or "?" if frames else "?"


def problems(config: Config) -> list[str]:
    """Every customer email template rendered once with sample values: what `config check`
    reports, so a typo shows before the first outage does."""
    if config.notify.customers.channel is None:
        return []
    overrides = folder(config)
    if overrides is not None and not overrides.is_dir():
        return [f"notify.customers.templates: {overrides} is not a folder"]
    found = []
    for name in NAMES:
        try:
            render(config, name, SAMPLE)
        except TemplateProblem as exc:
            found.append(str(exc))
    return found
