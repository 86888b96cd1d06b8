"""The `status:` section: the public status page's name, address, zone and components.

A public component is a name customers understand ("Web app") made of checks they never
see (`health`, `version`): the checks' names, URLs and summaries stay inside opsbook, and
only the component's words and its worst state go out. Which checks exist is known only
once the whole file is read, so an unknown check name is a cross-check (`status_issues`)
located at the name in the list.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from opsbook.config.durations import Interval
from opsbook.config.errors import ConfigIssue, shown
from opsbook.config.explain import did_you_mean, duplicate_names
from opsbook.config.oncall import known_zones
from opsbook.config.source import Located

# Words a customer reads: one line, no control characters (`visible` would show them as
# escapes, which no customer should see), bounded.
PublicText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$"
    ),
]
Description = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=1000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$"
    ),
]


def iana_zone(name: str) -> str:
    """A time zone name tzdata knows (as typed: case matters), or ValueError naming it."""
    if name not in known_zones():
        hint = did_you_mean(name, sorted(known_zones()))
        raise ValueError(f"{shown(name)} is not an IANA time zone{hint or ' (like Europe/Berlin)'}")
    return name


def _public_url(url: str | None) -> str | None:
    if url is not None and not url.startswith(("https://", "http://")):
        raise ValueError(f"{shown(url)} is not a page URL (use https://status.example.com)")
    return url


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PublicComponent(_Model):
    """One component as customers see it, and the checks whose worst state it shows."""

    name: PublicText
    description: Description | None = None
    group: PublicText | None = None
    checks: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default=[], max_length=1000
    )
    only_show_if_degraded: bool = False


class StatusConfig(_Model):
    name: PublicText = "Status"
    url: Annotated[str | None, AfterValidator(_public_url)] = None
    time_zone: Annotated[str, AfterValidator(iana_zone)] = "UTC"
    # How many incidents incidents.json lists (Statuspage lists the 50 most recent).
    history: int = Field(default=50, ge=1, le=1000)
    components: list[PublicComponent] = Field(default=[], max_length=500)
    # `opsbook serve` re-exports the static site here when the public page changes (a
    # path relative to the config file), at most once per `export_every`.
    export_dir: (
        Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00-\x1f]*$")]
        | None
    ) = None
    export_every: Interval = dt.timedelta(seconds=10)

    def component(self, name: str) -> PublicComponent | None:
        """The component called `name`, case aside (what an operator types)."""
        return next((c for c in self.components if c.name.casefold() == name.casefold()), None)


def status_issues(doc: Located, status: StatusConfig, checks: list[str]) -> list[ConfigIssue]:
    """Components named twice, and checks named that the file does not define (the issue
    points at the name in the component's `checks` list)."""
    section = ("status", "components")
    issues = duplicate_names(doc, section, [c.name.casefold() for c in status.components])
    for index, component in enumerate(status.components):
        for position, check in enumerate(component.checks):
            if check not in checks:
                hint = did_you_mean(check, checks)
                issues.append(
                    doc.issue(
                        (*section, index, "checks", position),
                        f"no check named {shown(check)}{hint}",
                    )
                )
    return issues
