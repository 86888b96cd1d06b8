"""What an unset `${VAR}` means: a feature that stays off, or a located error.

A first run has none of the team's secrets yet. Refusing the whole file over a missing
PagerDuty key would stop the checks that need no key at all, so a secret left unset
switches off the one thing that needs it (a notification channel, a check, the target
database), and `opsbook config check` says so in one block. A variable in any other
place still fails the load with its file, line and field: a typo in `app.url` must not
quietly turn into an empty URL.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from opsbook.config.errors import ConfigIssue
from opsbook.config.explain import annotation_at, did_you_mean
from opsbook.config.models import Config
from opsbook.config.secrets import Secret, UnsetSecret
from opsbook.config.source import Located, Reference, child, format_path, value_at
from opsbook.config.source import Path as DocPath

CHANNELS = "notify.channels"
# A channel's inbound half (Slack's buttons, PagerDuty's webhooks): its secret left unset
# turns off acknowledging from the far side, never the channel's messages.
INBOUND = "notify.inbound"
INBOUND_SECRETS = ("signing_secret", "webhook_secret")
CHECKS = "checks"
DATABASE = "database"
METRICS = "serve.metrics"
# A test account's session cookie: without it the app's pages are opened signed out.
SESSION = "app.session"


@dataclass
class Sorted:
    """The unset references of one document, sorted into what they switch off and what
    is an error; `cleared` are values to load as absent (the database's URL)."""

    off: list[UnsetSecret] = field(default_factory=list)
    errors: list[ConfigIssue] = field(default_factory=list)
    cleared: list[DocPath] = field(default_factory=list)


def sort_unset(doc: Located, known: Iterable[str]) -> Sorted:
    """Sort the document's unset references; `known` are the names set in the environment
    and .env, for did-you-mean hints."""
    data = doc.data if isinstance(doc.data, dict) else {}
    env_section = data.get("env")
    declared: dict[Any, Any] = env_section if isinstance(env_section, dict) else {}
    names = sorted({*known, *(str(k) for k in declared)})
    result = Sorted()
    for ref in doc.references:
        if ref.state not in ("unset", "empty"):
            continue
        feature = _feature(ref.path)
        if feature is not None and (ref.name in declared or _holds_secret(data, ref.path)):
            section, where = feature
            result.off.append(_off(ref, section, _name_at(data, where)))
            if section == DATABASE:
                result.cleared.append(ref.path)
            if section == SESSION:
                result.cleared.append(where)
        elif ref.state == "unset":
            result.errors.append(not_set(doc.file, ref, names))
    if any(u.section == DATABASE for u in result.off):
        result.off.extend(_database_checks(data, [u for u in result.off if u.section == DATABASE]))
    return result


def not_set(file: str, ref: Reference, names: list[str] | None = None) -> ConfigIssue:
    hint = did_you_mean(ref.name, [n for n in names or [] if n != ref.name])
    return ConfigIssue(
        file,
        ref.line,
        ref.column,
        format_path(ref.path),
        f"${{{ref.name}}} is not set (set {ref.name}, or write ${{{ref.name}:-default}}){hint}",
    )


def _feature(path: DocPath) -> tuple[str, DocPath] | None:
    """The feature a value belongs to, when that feature can stay off."""
    if len(path) > 3 and path[:2] == ("notify", "channels") and isinstance(path[2], int):
        return (INBOUND if path[3] in INBOUND_SECRETS else CHANNELS), path[:3]
    if len(path) > 2 and path[0] == "checks" and isinstance(path[1], int):
        return CHECKS, path[:2]
    if path == ("database", "url"):
        return DATABASE, ("database",)
    if path == ("serve", "metrics_token"):
        return METRICS, ("serve",)
    if path == ("app", "session", "value"):
        return SESSION, ("app", "session")
    return None


def _holds_secret(data: Any, path: DocPath) -> bool:
    return _is_secret_type(annotation_at(Config, data, path))


def _is_secret_type(annotation: Any) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, Secret)
    return any(_is_secret_type(arg) for arg in typing.get_args(annotation))


def _name_at(data: Any, where: DocPath) -> str | None:
    if where in (("database",), ("serve",)):
        return None
    name = child(value_at(data, where), "name")
    return name if isinstance(name, str) else None


def _off(ref: Reference, section: str, name: str | None) -> UnsetSecret:
    return UnsetSecret(ref.name, format_path(ref.path), section, name, ref.line, ref.column)


def _database_checks(data: dict[str, Any], database: list[UnsetSecret]) -> list[UnsetSecret]:
    """`postgres` checks without a database_url of their own read database.url: they stay
    off with it rather than report an error every minute."""
    checks = data.get("checks")
    found: list[UnsetSecret] = []
    for check in checks if isinstance(checks, list) else []:
        if not isinstance(check, dict) or check.get("kind") != "postgres":
            continue
        if "database_url" in check or not isinstance(check.get("name"), str):
            continue
        found.extend(
            UnsetSecret(u.variable, u.path, CHECKS, check["name"], u.line, u.column)
            for u in database
        )
    return found


def clear(data: Any, paths: Iterable[DocPath]) -> None:
    """Load these values as absent (None)."""
    for path in paths:
        value_at(data, path[:-1])[path[-1]] = None


# --- the block `opsbook config check` prints -------------------------------------------

_KINDS = {"pagerduty": "PagerDuty", "slack": "Slack", "email": "Email", "webhook": "Webhook"}
_NOUNS = {"pagerduty": "pages", "slack": "messages", "email": "email", "webhook": "calls"}


@dataclass(frozen=True)
class OffFeature:
    """One feature that stays off until its secrets are set, as a responder reads it."""

    title: str
    section: str
    name: str | None
    variables: tuple[str, ...]
    paths: tuple[str, ...]
    effect: str

    @property
    def sentence(self) -> str:
        it = "it is" if len(self.variables) == 1 else "they are"
        return f"{self.title}: set {_listed(self.variables)} — {self.effect} until {it} set"

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature": self.title,
            "section": self.section,
            "name": self.name,
            "variables": list(self.variables),
            "paths": list(self.paths),
            "stays_off": self.effect,
        }


def off_features(config: Config) -> list[OffFeature]:
    """The config's unset secrets grouped per feature, in the order the file names them.
    A check that is off only because the database is folds into the database's line."""
    groups: dict[tuple[str, str | None], list[UnsetSecret]] = {}
    for unset in config.unset_secrets:
        groups.setdefault((unset.section, unset.name), []).append(unset)
    features = []
    for (section, name), entries in groups.items():
        if section == CHECKS and all(e.path == "database.url" for e in entries):
            continue
        variables = tuple(dict.fromkeys(e.variable for e in entries))
        paths = tuple(dict.fromkeys(e.path for e in entries))
        title, effect = _describe(config, section, name)
        features.append(OffFeature(title, section, name, variables, paths, effect))
    return features


def _describe(config: Config, section: str, name: str | None) -> tuple[str, str]:
    if section == DATABASE:
        checks = [
            u.name for u in config.unset_secrets if u.section == CHECKS and u.path == "database.url"
        ]
        plural = "s" if len(checks) > 1 else ""
        also = f" and the {_listed(tuple(map(repr, checks)))} check{plural}" if checks else ""
        return "Target database (database.url)", f"database care (opsbook db{also}) stays off"
    if section == CHECKS:
        return f"Check {name!r}", "the check stays off"
    if section == METRICS:
        return "Metrics (GET /metrics)", "GET /metrics answers 404"
    if section == SESSION:
        return "App session (app.session)", "the app's pages are opened signed out"
    channel = next((c for c in config.notify.channels if c.name == name), None)
    if section == INBOUND:
        return _describe_inbound(str(getattr(channel, "kind", "")), str(name))
    kind = str(getattr(channel, "kind", ""))
    routing = getattr(config.notify, "routing", {})
    severities = [sev for sev, names in routing.items() if name in names]
    label = _KINDS.get(kind, "Channel")
    shown_as = str(getattr(channel, "channel", None) or name)
    noun = _NOUNS.get(kind, "notifications")
    routed = f"{', '.join(severities)} {noun}" if severities else "not routed"
    named = label if shown_as.casefold() == kind else f"{label} {shown_as}"
    title = f"{named} ({routed})"
    effects = {
        "pagerduty": "paging stays off",
        "slack": f"messages to {shown_as} stay off",
        "email": f"email to {', '.join(getattr(channel, 'to', []) or [str(name)])} stays off",
    }
    return title, effects.get(kind, f"the {name} channel stays off")


def _describe_inbound(kind: str, name: str) -> tuple[str, str]:
    if kind == "slack":
        return (
            f"Slack buttons of {name!r} (POST /api/v1/slack/interactions)",
            "its messages carry no Acknowledge or Resolve buttons",
        )
    return (
        f"PagerDuty webhooks of {name!r} (POST /api/v1/pagerduty)",
        "acknowledging or resolving in PagerDuty does not reach opsbook",
    )


def _listed(words: tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
