"""Out-of-range values in opsbook.yaml and runbooks are refused, located, never crash.

Every duration field is at most 100y and, where zero means nothing, at least a minimum;
every number has an upper bound. The tables below are checked against the models
themselves, so a new field cannot slip past them.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from opsbook.config import ConfigError, parse_config
from opsbook.config.errors import shown
from opsbook.config.models import Config
from opsbook.registry import default_registry
from opsbook.runbooks.loader import RunbookError, parse_runbook
from opsbook.runbooks.model import Runbook

V = "VALUE"  # where the value under test goes in each template


def _http(extra: str) -> str:
    return f"checks:\n  - {{name: a, kind: http, url: 'http://x', {extra}}}\n"


def _rule(extra: str) -> str:
    return f"alerts:\n  rules:\n    - {{name: r, metric: m, crit: 1, {extra}}}\n"


# field (as the models spell it) -> (a config holding VALUE there, its path in messages,
# the message for 0s, or None where zero is meaningful: "immediately", "no delay").
CONFIG_DURATIONS: dict[str, tuple[str, str, str | None]] = {
    "severities.*.response_sla": (
        f"severities:\n  P1: {{label: High, action: alert, response_sla: {V}}}\n",
        "severities.P1.response_sla",
        None,
    ),
    "checks[].interval": (_http(f"interval: {V}"), "checks[0].interval", "at least 1s"),
    "checks[].timeout": (_http(f"timeout: {V}"), "checks[0].timeout", "at least 1ms"),
    "checks[].expect.max_response_time": (
        _http(f"expect: {{max_response_time: {V}}}"),
        "checks[0].expect.max_response_time",
        "at least 1ms",
    ),
    "alerts.window": (f"alerts:\n  window: {V}\n", "alerts.window", "at least 1s"),
    "status.export_every": (
        f"status:\n  export_every: {V}\n",
        "status.export_every",
        "at least 1s",
    ),
    "alerts.rules[].window": (_rule(f"window: {V}"), "alerts.rules[0].window", "at least 1s"),
    "alerts.rules[].for": (_rule(f"for: {V}"), "alerts.rules[0].for", None),
    "alerts.rules[].keep_firing": (
        _rule(f"keep_firing: {V}"),
        "alerts.rules[0].keep_firing",
        None,
    ),
    "alerts.grouping.window": (
        f"alerts:\n  grouping: {{window: {V}}}\n",
        "alerts.grouping.window",
        "at least 1s",
    ),
    **{
        f"incidents.{name}": (
            f"incidents:\n  {name}: {V}\n",
            f"incidents.{name}",
            "at least 1s" if name.endswith("_every") else None,
        )
        for name in (
            "ack_within",
            "team_update_every",
            "customer_update_after",
            "customer_update_every",
            "escalate_after",
            "monitor_for",
            "postmortem_within",
        )
    },
    "watch.retention": (f"watch:\n  retention: {V}\n", "watch.retention", "at least 1m"),
    "backups.max_age": (f"backups:\n  max_age: {V}\n", "backups.max_age", "at least 1s"),
    "backups.fresh_for": (f"backups:\n  fresh_for: {V}\n", "backups.fresh_for", "at least 1s"),
    "backups.lock_wait": (f"backups:\n  lock_wait: {V}\n", "backups.lock_wait", "at least 1ms"),
    "checks[].max_age": (
        f"checks:\n  - {{name: b, kind: backup, max_age: {V}}}\n",
        "checks[0].max_age",
        "at least 1s",
    ),
    "watch.downsample[].every": (
        f"watch:\n  downsample:\n    - {{every: {V}, keep: 1d}}\n",
        "watch.downsample[0].every",
        "finer than 10s",
    ),
    "watch.downsample[].keep": (
        f"watch:\n  downsample:\n    - {{every: 1m, keep: {V}}}\n",
        "watch.downsample[0].keep",
        "must be longer than every",
    ),
    "watch.evaluate_every": (
        f"watch:\n  evaluate_every: {V}\n",
        "watch.evaluate_every",
        "at least 1s",
    ),
    "notify.channels[].timeout": (
        "notify:\n  channels:\n"
        f"    - {{name: s, kind: slack, webhook_url: 'http://x', timeout: {V}}}\n",
        "notify.channels[0].timeout",
        "at least 1ms",
    ),
    **{
        f"notify.outbox.{name}": (
            f"notify:\n  outbox:\n    {name}: {V}\n",
            f"notify.outbox.{name}",
            least,
        )
        for name, least in (
            ("backoff", "at least 10ms"),
            ("backoff_max", "at least 10ms"),
            ("give_up_after", "at least 1m"),
            ("lease", "at least 100ms"),
            ("poll_every", "at least 10ms"),
            ("keep_delivered", "at least 1h"),
            ("keep_dead", "at least 1h"),
            ("prune_every", "at least 1s"),
        )
    },
    **{
        f"notify.customers.{name}": (
            f"notify:\n  customers:\n    {name}: {V}\n",
            f"notify.customers.{name}",
            least,
        )
        for name, least in (("query_timeout", "at least 1ms"), ("check_every", "at least 100ms"))
    },
    **{
        f"escalation.{name}": (f"escalation:\n  {name}: {V}\n", f"escalation.{name}", least)
        for name, least in (
            ("renotify_every", "shorter than 1m"),
            ("rate_limit", None),  # no rate limit: every page goes out
            ("tick", "shorter than 1s"),
        )
    },
    **{
        f"deploy.{name}": (f"deploy:\n  {name}: {V}\n", f"deploy.{name}", least)
        for name, least in (
            ("wait", None),  # look once
            ("watch", None),  # do not watch
            ("poll_every", "at least 1s"),
            ("sample_every", "at least 1s"),
            ("window", "at least 1s"),
        )
    },
    **{
        f"maintenance.{name}": (f"maintenance:\n  {name}: {V}\n", f"maintenance.{name}", least)
        for name, least in (
            ("tick", "at least 1s"),
            ("late_after", "at least 1s"),
            ("audit_timeout", "at least 1ms"),
        )
    },
    "deploy.lock_for": (f"deploy:\n  lock_for: {V}\n", "deploy.lock_for", "at least 4s"),
    "deploy.checklist.tests.timeout": (
        f"deploy:\n  checklist:\n    tests: {{command: [x], timeout: {V}}}\n",
        "deploy.checklist.tests.timeout",
        "at least 1ms",
    ),
    **{
        f"deploy.vercel.{name}": (
            f"deploy:\n  vercel: {{token: t, project: p, {name}: {V}}}\n",
            f"deploy.vercel.{name}",
            least,
        )
        for name, least in (("timeout", "at least 1ms"), ("wait", "at least 1s"))
    },
    **{
        f"deploy.command.{name}": (
            f"deploy:\n  command: {{argv: [x, '{{deployment}}'], {name}: {V}}}\n",
            f"deploy.command.{name}",
            least,
        )
        for name, least in (("timeout", "at least 1ms"), ("wait", "at least 1s"))
    },
    "maintenance.keys.*.every": (
        f"maintenance:\n  keys:\n    stripe: {{every: {V}}}\n",
        "maintenance.keys.stripe.every",
        "at least 1d",
    ),
    "escalation.policies[].levels[].delay": (
        "escalation:\n  policies:\n    - name: p\n"
        f"      levels: [{{targets: [{{person: x}}], delay: {V}}}]\n",
        "escalation.policies[0].levels[0].delay",
        "shorter than 1m",
    ),
}

RUNBOOK_STEP = (
    f"name: book\ntitle: Book\nsteps:\n  - {{id: one, title: One, manual: Look, timeout: {V}}}\n"
)


def _at(template: str, value: str) -> tuple[str, str]:
    """The template with `value` in place, and `line:column` of that place."""
    before = template[: template.index(V)]
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return template.replace(V, value), f"{line}:{column}"


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file="opsbook.yaml", env={})
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.parametrize("field", sorted(CONFIG_DURATIONS))
def test_every_duration_field_refuses_99999y_where_it_stands(field: str) -> None:
    template, path, _ = CONFIG_DURATIONS[field]
    text, where = _at(template, "99999y")
    assert _problems(text) == [
        f"opsbook.yaml:{where}: {path}: '99999y' is longer than 100y, the longest opsbook takes"
    ]


@pytest.mark.parametrize("field", sorted(CONFIG_DURATIONS))
def test_every_duration_field_refuses_0s_where_zero_means_nothing(field: str) -> None:
    template, path, zero = CONFIG_DURATIONS[field]
    text, where = _at(template, "0s")
    if zero is None:
        parse_config(text, file="opsbook.yaml", env={})
        return
    [problem] = _problems(text)
    assert problem.startswith(f"opsbook.yaml:{where}: {path}: ")
    assert zero in problem


def test_the_issue_repros_are_refused() -> None:
    assert _problems(_http("interval: 99999999999y")) == [
        "opsbook.yaml:2:54: checks[0].interval: '99999999999y' is longer than 100y,"
        " the longest opsbook takes"
    ]
    assert _problems("watch:\n  retention: 2000000y\n") == [
        "opsbook.yaml:2:14: watch.retention: '2000000y' is longer than 100y,"
        " the longest opsbook takes"
    ]
    assert _problems(_http("interval: 0s")) == [
        "opsbook.yaml:2:54: checks[0].interval: '0s' is too short: it must be at least 1s"
    ]


def test_deploy_lock_for_is_between_4s_and_a_day() -> None:
    [problem] = _problems("deploy:\n  lock_for: 2d\n")
    assert problem.startswith("opsbook.yaml:2:13: deploy.lock_for: ")
    assert "2d is too long: at most 1d" in problem
    [short] = _problems("deploy:\n  lock_for: 3s\n")
    assert "at least 4s" in short
    assert parse_config("deploy:\n  lock_for: 1d\n", file="x", env={}).deploy.lock_for.days == 1


def test_a_runbook_step_timeout_is_bounded_too() -> None:
    registry = default_registry()
    for value, message in (
        ("99999y", "'99999y' is longer than 100y"),
        ("0s", "'0s' is too short: it must be at least 1ms"),
    ):
        text, where = _at(RUNBOOK_STEP, value)
        with pytest.raises(RunbookError) as caught:
            parse_runbook(text, file="book.yaml", registry=registry)
        [issue] = caught.value.issues
        assert str(issue).startswith(f"book.yaml:{where}: steps[0].timeout: {message}")


HUGE = "99999999999999999999999"
TOO_LARGE = f"{HUGE} is out of range: it must be at most"


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        (
            "watch:\n  concurrency: VALUE\n",
            "1e400",
            "watch.concurrency: '1e400' is not a whole number",
        ),
        ("watch:\n  concurrency: VALUE\n", HUGE, f"watch.concurrency: {TOO_LARGE} 10000"),
        (
            "watch:\n  concurrency: VALUE\n",
            "9" * 5000,
            f"watch.concurrency: {shown('9' * 5000)} is not a whole number",
        ),
        (_http("fail_after: VALUE"), HUGE, f"checks[0].fail_after: {TOO_LARGE} 1000"),
        (_http("expect: {status: VALUE}"), HUGE, f"checks[0].expect.status: {TOO_LARGE} 599"),
        (
            "checks:\n  - {name: t, kind: tls, host: x, port: VALUE}\n",
            HUGE,
            f"checks[0].port: {TOO_LARGE} 65535",
        ),
        (
            "checks:\n  - {name: t, kind: tls, host: x, warn_days: VALUE}\n",
            HUGE,
            f"checks[0].warn_days: {TOO_LARGE} 3650",
        ),
        (
            "checks:\n  - {name: c, kind: command, command: 'true', ok_exit: VALUE}\n",
            HUGE,
            f"checks[0].ok_exit: {TOO_LARGE} 255",
        ),
        (
            "alerts:\n  grouping: {max_incidents: VALUE}\n",
            HUGE,
            f"alerts.grouping.max_incidents: {TOO_LARGE} 1000",
        ),
        ("serve:\n  port: VALUE\n", HUGE, f"serve.port: {TOO_LARGE} 65535"),
        (
            "database:\n  disk_quota: VALUE\n",
            "99999999999999999999999999 TB",
            "database.disk_quota: '99999999999999999999999999 TB' is out of range: it must be"
            " at most 9223372036854775807",
        ),
        (_rule("warn: VALUE"), "1e400%", "alerts.rules[0].warn: '1e400%' is not a finite number"),
    ],
)
def test_numbers_past_their_bound_are_refused_where_they_stand(
    template: str, value: str, expected: str
) -> None:
    text, where = _at(template, value)
    assert _problems(text) == [f"opsbook.yaml:{where}: {expected}"]


# --- the tables above and the bounds below cover every field the models have ----------


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The type under Annotated, and the metadata stacked on it."""
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *more = typing.get_args(annotation)
        for item in more:
            metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    return annotation, metadata


def _fields(model: type[BaseModel], prefix: str) -> dict[str, tuple[Any, list[Any]]]:
    """Every leaf field under `model`: `checks[].interval` -> (type, its metadata)."""
    found: dict[str, tuple[Any, list[Any]]] = {}
    for name, field in model.model_fields.items():
        found |= _leaves(field.annotation, f"{prefix}{field.alias or name}", field.metadata)
    return found


def _leaves(annotation: Any, path: str, metadata: list[Any]) -> dict[str, tuple[Any, list[Any]]]:
    annotation, more = _unwrap(annotation)
    metadata = [*metadata, *more]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _fields(annotation, f"{path}.")
    if origin is list:
        return _leaves(args[0], f"{path}[]", metadata)
    if origin is dict:
        return _leaves(args[1], f"{path}.*", metadata)
    if origin in (typing.Union, types.UnionType):
        found: dict[str, tuple[Any, list[Any]]] = {}
        for member in args:
            for leaf, (kind, meta) in _leaves(member, path, metadata).items():
                if leaf not in found or kind in (int, float, dt.timedelta):
                    found[leaf] = (kind, meta)
        return found
    return {path: (annotation, metadata)}


def _every_model() -> dict[str, type[BaseModel]]:
    registry = default_registry()
    models: dict[str, type[BaseModel]] = {"": Config, "runbook:": Runbook}
    models |= {f"{name}:": registry.get(name).inputs for name in registry.names()}
    return models


def _all_fields() -> dict[str, tuple[Any, list[Any]]]:
    found: dict[str, tuple[Any, list[Any]]] = {}
    for prefix, model in _every_model().items():
        found |= _fields(model, prefix)
    return found


# Runbook action inputs that take a duration, and the least each takes.
ACTION_DURATIONS: dict[str, str | None] = {
    "db.archive:older_than": None,
    "db.archive:lock_timeout": "1ms",
    "db.archive:max_lag": None,
    "db.archive:pause": None,
    "db.slow_queries:min_duration": None,
    "db.terminate_idle:older_than": None,
    "backup.status:max_age": None,
    "deploy.verify:wait": None,
    "deploy.verify:watch": None,
    "deploy.rollback:watch": None,
    "deploy.recent:within": None,
}


def test_the_duration_tables_cover_every_duration_field() -> None:
    durations = {path for path, (kind, _) in _all_fields().items() if kind is dt.timedelta}
    assert durations == {*CONFIG_DURATIONS, "runbook:steps[].timeout", *ACTION_DURATIONS}


@pytest.mark.parametrize("path", sorted(ACTION_DURATIONS))
def test_action_durations_are_bounded(path: str) -> None:
    action, field = path.split(":")
    inputs = default_registry().get(action).inputs
    with pytest.raises(ValidationError, match="longer than 100y"):
        inputs.model_validate({field: "99999y"})
    minimum = ACTION_DURATIONS[path]
    if minimum is not None:
        with pytest.raises(ValidationError, match=f"at least {minimum}"):
            inputs.model_validate({field: "0s"})


def test_every_number_field_has_an_upper_bound() -> None:
    unbounded = []
    for path, (kind, metadata) in _all_fields().items():
        numeric = isinstance(kind, type) and issubclass(kind, int | float) and kind is not bool
        if not numeric:
            continue
        # bounds.py's Interval is grouped metadata: its Le/Lt are inside it.
        flat = [
            part
            for m in metadata
            for part in (m if isinstance(m, annotated_types.GroupedMetadata) else [m])
        ]
        bounded = any(isinstance(m, annotated_types.Le | annotated_types.Lt) for m in flat)
        finite = any(getattr(m, "allow_inf_nan", None) is False for m in metadata)
        if not bounded and not (kind is float and finite):
            unbounded.append(path)
    assert unbounded == []
