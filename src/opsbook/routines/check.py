"""What only the runbook folders can say about `maintenance.routines`: whether each
routine's runbook exists. The config loader cannot ask (the runbooks are read with the
config), so `serve` and the maintenance commands ask here before acting, and the answer
is located in opsbook.yaml like any other config problem (file:line:column: field)."""

from __future__ import annotations

from opsbook.config import Config, ConfigIssue
from opsbook.config.explain import did_you_mean
from opsbook.config.oncall import known_zones
from opsbook.config.source import Located, YamlSyntaxError, load_yaml
from opsbook.runbooks import loader


def routine_issues(config: Config) -> list[ConfigIssue]:
    routines = config.maintenance.routines
    if not routines:
        return []
    doc = _located(config)
    names = sorted(loader.discover(config))
    issues = []
    for name, routine in routines.items():
        where = ("maintenance", "routines", name)
        if routine.runbook not in names:
            hint = did_you_mean(routine.runbook, names)
            message = f"no runbook {routine.runbook!r}{hint}; see: opsbook runbook list"
            issues.append(doc.issue((*where, "runbook"), message))
        if routine.timezone is None and config.timezone not in known_zones():
            message = f"{config.timezone!r} is not an IANA time zone (routine {name} uses it)"
            issues.append(doc.issue(("timezone",), message))
    return issues


def _located(config: Config) -> Located:
    """The file's positions (its values were checked when it loaded); a config built in
    code has none, and its issues point at line 1."""
    label = str(config.source or "opsbook.yaml")
    if config.source is not None:
        try:
            return load_yaml(config.source.read_text(encoding="utf-8"), file=label, expand=False)
        except (OSError, UnicodeDecodeError, YamlSyntaxError):
            pass
    return Located(file=label, data={})
