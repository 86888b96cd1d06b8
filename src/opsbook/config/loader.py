"""Find, read and validate opsbook.yaml; a bad file never half-loads."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from opsbook.config.errors import ConfigError, ConfigIssue
from opsbook.config.explain import did_you_mean, explain_error
from opsbook.config.models import Config
from opsbook.config.source import Located, YamlSyntaxError, load_yaml

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
    """Load and validate one file, or raise ConfigError listing every problem in it."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(label, 1, 1, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(label, 1, 1, "", f"cannot read: {exc}")]) from None
    config = parse_config(text, file=label, env=env)
    config._source = path.resolve()
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
    issues = list(doc.issues)
    try:
        config = Config.model_validate(doc.data)
    except ValidationError as exc:
        issues.extend(explain_error(doc, error, Config) for error in exc.errors())
        raise ConfigError(issues) from None
    issues.extend(_cross_checks(doc, config))
    if issues:
        raise ConfigError(issues)
    return config


# --- checks that span several fields ------------------------------------------------------


def _cross_checks(doc: Located, config: Config) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for section, items in (
        (("checks",), config.checks),
        (("alerts", "rules"), config.alerts.rules),
        (("notify", "channels"), config.notify.channels),
    ):
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            path = (*section, index, "name")
            if item.name in first:
                line = doc.position((*section, first[item.name], "name"))[0]
                issues.append(
                    doc.issue(path, f"duplicate name {item.name!r} (first used on line {line})")
                )
            else:
                first[item.name] = index
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
    return issues
