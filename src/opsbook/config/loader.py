"""Find, read and validate opsbook.yaml; a bad file never half-loads."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from pydantic import ValidationError

from opsbook.config.dotenv import env_file_beside, read_env_file
from opsbook.config.errors import ConfigError, ConfigIssue
from opsbook.config.escalation import escalation_issues
from opsbook.config.explain import did_you_mean, duplicate_names, explain_error
from opsbook.config.models import Config
from opsbook.config.oncall import oncall_issues
from opsbook.config.secrets import UnsetSecret, secret_values
from opsbook.config.source import Located, YamlSyntaxError, load_yaml
from opsbook.config.status import status_issues
from opsbook.config.unset import clear, sort_unset

CONFIG_NAMES = ("opsbook.yaml", "opsbook.yml")
ENV_VAR = "OPSBOOK_CONFIG"


def find_config(explicit: str | Path | None = None, *, cwd: Path | None = None) -> Path | None:
    """`--config`, then `$OPSBOOK_CONFIG`, then opsbook.yaml in the working directory."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    here = cwd or Path.cwd()
    for name in CONFIG_NAMES:
        if (here / name).is_file():
            return here / name
    return None


def load_config(path: Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate one file, or raise ConfigError listing every problem in it.

    `${VAR}` reads `env` (the process environment by default), then a .env file beside
    the config: the environment wins, as in docker compose."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(label, 1, 1, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(label, 1, 1, "", f"cannot read: {exc}")]) from None
    env_file = read_env_file(env_file_beside(path))
    config = parse_config(
        text, file=label, env={**env_file, **(os.environ if env is None else env)}
    )
    config._source = path.resolve()
    config._env_file_secrets = tuple(secret_values(env_file))
    return config


def parse_config(text: str, *, file: str, env: Mapping[str, str] | None = None) -> Config:
    try:
        doc = load_yaml(text, file=file, env=env)
    except YamlSyntaxError as exc:
        raise ConfigError([exc.issue]) from None
    if doc.data is None:
        raise ConfigError(
            [ConfigIssue(file, 1, 1, "", "the file is empty (run `opsbook init` for a starter)")]
        )
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.issue((), "the top level must be a mapping of sections")])
    unset = sort_unset(doc, os.environ if env is None else env)
    clear(doc.data, unset.cleared)
    issues = [*doc.issues, *unset.errors]
    try:
        config = Config.model_validate(doc.data)
    except ValidationError as exc:
        issues.extend(_explain(doc, exc, unset.off))
        raise ConfigError(issues) from None
    issues.extend(_cross_checks(doc, config))
    if issues:
        raise ConfigError(issues)
    config._unset = tuple(unset.off)
    return config


def _explain(doc: Located, exc: ValidationError, off: list[UnsetSecret]) -> list[ConfigIssue]:
    """Located sentences for a validation error; a value refused only because its
    variable is unset says that, not that "" is not a port."""
    unset_at = {u.path: u for u in off}
    issues = []
    for error in exc.errors():
        issue = explain_error(doc, error, Config)
        if issue.path in unset_at:
            name = unset_at[issue.path].variable
            issue = replace(
                issue, message=f"${{{name}}} is not set, and this value cannot be empty"
            )
        issues.append(issue)
    return issues


# --- checks that span several fields ------------------------------------------------------


def _cross_checks(doc: Located, config: Config) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for section, items in (
        (("checks",), config.checks),
        (("alerts", "rules"), config.alerts.rules),
        (("notify", "channels"), config.notify.channels),
    ):
        issues += duplicate_names(doc, section, [item.name for item in items])
    channel_names = [c.name for c in config.notify.channels]
    routes: list[tuple[tuple[str, ...], list[str]]] = [
        (("notify", "routing", s), names) for s, names in config.notify.routing.items()
    ]
    routes += [
        (("notify", "components", component, s), names)
        for component, by_severity in config.notify.components.items()
        for s, names in by_severity.items()
    ]
    for where, names in routes:
        for index, name in enumerate(names):
            if name not in channel_names:
                hint = did_you_mean(name, channel_names)
                issues.append(doc.issue((*where, index), f"no channel named {name!r}{hint}"))
    issues.extend(oncall_issues(doc, config.oncall))
    issues.extend(escalation_issues(doc, config.escalation, config.oncall, config.notify))
    issues.extend(status_issues(doc, config.status, [c.name for c in config.checks]))
    return issues
