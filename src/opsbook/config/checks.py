"""The `checks:` section of opsbook.yaml: one model per check kind, told apart by `kind`.

Apart from models.py (which re-exports every name) to keep each module one section."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints, ValidationInfo, field_validator, model_validator

from opsbook.bounds import Port
from opsbook.config.base import HttpStatus, Model, SeverityName, Threshold
from opsbook.config.deploy import Environment
from opsbook.config.durations import Interval, Timeout
from opsbook.config.secrets import Secret, SecretUrl

# --- checks (behaviour arrives with the watch capability) ------------------------------


class CheckBase(Model):
    name: str
    interval: Interval = dt.timedelta(seconds=30)
    timeout: Timeout = dt.timedelta(seconds=10)
    component: str | None = None
    severity: SeverityName | None = None
    runbook: str | None = None
    fail_after: int = Field(default=1, ge=1, le=1000)
    recover_after: int = Field(default=1, ge=1, le=1000)


class HttpExpect(Model):
    status: HttpStatus | list[HttpStatus] = 200
    json_: list[str] = Field(default=[], alias="json")
    body_contains: str | None = None
    max_response_time: Timeout | None = None


class HttpCheck(CheckBase):
    kind: Literal["http"]
    url: str
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: dict[str, Secret] = {}
    body: str | None = None
    expect: HttpExpect = HttpExpect()


class VersionCheck(CheckBase):
    kind: Literal["version"]
    url: str
    field: str = "commit"
    # None: app.expected_commit, else the last deploy verified in `env` (opsbook deploy).
    expected: str | None = None
    env: Environment = "production"


class WebhookCheck(CheckBase):
    kind: Literal["webhook"]
    url: str
    payload: dict[str, Any] = {"type": "test"}


# A provider's component name as written in `components:`/`ignore:`; matched exactly,
# case aside. Real names are short ("Washington, D.C., USA (iad1)"); the bound keeps a
# pasted paragraph out.
ComponentName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]


def _distinct(names: list[str]) -> list[str]:
    seen: set[str] = set()
    for name in names:
        if name.casefold() in seen:
            raise ValueError(f"{name!r} is listed twice")
        seen.add(name.casefold())
    return names


class StatuspageCheck(CheckBase):
    """A provider's hosted status page, given by its page URL or one of its API URLs.

    `components` (all when empty) and `ignore` select what counts by name; a group means
    its children. Whether the names exist is known only once the page is read."""

    kind: Literal["statuspage"]
    provider: str
    url: str
    components: list[ComponentName] = Field(default=[], max_length=500)
    ignore: list[ComponentName] = Field(default=[], max_length=500)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{url!r} is not a status page URL (use https://status.example.com)")
        return url.strip()

    @field_validator("components")
    @classmethod
    def _distinct_components(cls, names: list[str]) -> list[str]:
        return _distinct(names)

    @field_validator("ignore")
    @classmethod
    def _ignore_what_is_not_selected(cls, names: list[str], info: ValidationInfo) -> list[str]:
        selected = {name.casefold() for name in info.data.get("components", [])}
        for name in _distinct(names):
            if name.casefold() in selected:
                raise ValueError(f"{name!r} is in components too: select it or ignore it")
        return names


class TlsCheck(CheckBase):
    kind: Literal["tls"]
    host: str
    port: Port = 443
    warn_days: int = Field(default=21, ge=0, le=3650)
    crit_days: int = Field(default=7, ge=0, le=3650)
    server_name: str | None = None
    ca_file: str | None = None


class DnsCheck(CheckBase):
    kind: Literal["dns"]
    domain: str
    dkim_selectors: list[str] = []
    require: list[Literal["spf", "dkim", "dmarc"]] = ["spf", "dkim", "dmarc"]
    nameservers: list[str] = []


class PostgresCheck(CheckBase):
    kind: Literal["postgres"]
    database_url: SecretUrl | None = None


class BackupCheck(CheckBase):
    """The newest verified backup's age: degraded past `max_age` (default backups.max_age),
    down when none is verified."""

    kind: Literal["backup"]
    max_age: Interval | None = None


class BasicAuth(Model):
    username: str
    password: Secret


class PrometheusCheck(CheckBase):
    """An instant query, judged series by series (or as one `aggregate` of them), the
    worst series deciding. With `on_empty: ok` and no thresholds the query is an alert
    condition, as in a Prometheus alerting rule: every series it returns is down."""

    kind: Literal["prometheus"]
    url: str
    query: str
    metric: str
    on_empty: Literal["ok", "degraded", "down"] = "degraded"
    aggregate: Literal["min", "max", "sum", "avg", "any", "all"] | None = None
    warn: Threshold | None = None
    crit: Threshold | None = None
    direction: Literal["above", "below"] = "above"
    headers: dict[str, Secret] = {}
    bearer_token: Secret | None = None
    basic_auth: BasicAuth | None = None

    @model_validator(mode="after")
    def _one_credential(self) -> PrometheusCheck:
        given = [
            name
            for name, value in (
                ("bearer_token", self.bearer_token),
                ("basic_auth", self.basic_auth),
                ("an Authorization header", "authorization" in map(str.lower, self.headers)),
            )
            if value
        ]
        if len(given) > 1:
            raise ValueError(f"{' and '.join(given)} both set the credential: keep one")
        for name, value in self.headers.items():
            _header_field(f"headers: {name!r}", name, value.reveal())
        if self.bearer_token:
            _header_field("bearer_token", "Authorization", self.bearer_token.reveal())
        if self.basic_auth is not None:
            auth = self.basic_auth
            _header_field("basic_auth", "Authorization", auth.username + auth.password.reveal())
            if ":" in auth.username:
                raise ValueError("basic_auth.username cannot hold a colon (RFC 7617)")
        return self


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _header_field(where: str, name: str, value: str) -> None:
    """Refuse what HTTP cannot carry: a line break in a value would end the header (and
    start another); the message never repeats the value, which may be a secret."""
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"{where}: a header name is letters, digits and !#$%&'*+.^_`|~-")
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        raise ValueError(f"{where}: the value holds a control character (a line break?)")


class CommandCheck(CheckBase):
    kind: Literal["command"]
    command: str | list[str]
    ok_exit: int = Field(default=0, ge=0, le=255)


Check = Annotated[
    HttpCheck
    | VersionCheck
    | WebhookCheck
    | StatuspageCheck
    | TlsCheck
    | DnsCheck
    | PostgresCheck
    | BackupCheck
    | PrometheusCheck
    | CommandCheck,
    Field(discriminator="kind"),
]
