"""The typed shape of opsbook.yaml.

Every section a later capability needs exists here first, so that a config written
today keeps loading as behaviour arrives behind its fields. Unknown keys are errors:
a typo must never silently disable a check.

The check kinds are in checks.py (re-exported here).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal, cast

from pydantic import (
    ByteSize,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from opsbook.bodies import MAX_BODY_BYTES, MAX_JSON_DEPTH
from opsbook.bounds import Port
from opsbook.config.backups import BackupsConfig

# Re-exported: the severity names have always been imported from here.
from opsbook.config.base import SEVERITY_NAMES as SEVERITY_NAMES
from opsbook.config.base import HttpStatus as HttpStatus
from opsbook.config.base import Model
from opsbook.config.base import SeverityName as SeverityName
from opsbook.config.base import Threshold as Threshold
from opsbook.config.checks import Check
from opsbook.config.deploy import DeployConfig, SmokePath, SmokePaths
from opsbook.config.durations import Duration, Interval, at_least, format_duration
from opsbook.config.escalation import EscalationConfig
from opsbook.config.notify import NotifyConfig
from opsbook.config.oncall import OncallConfig
from opsbook.config.routines import MaintenanceConfig
from opsbook.config.secrets import Secret, SecretUrl, UnsetSecret
from opsbook.config.session import AppSession
from opsbook.config.status import StatusConfig

# --- severities -----------------------------------------------------------------------


class SeverityLevel(Model):
    label: str
    action: Literal["page", "alert", "ticket", "backlog"]
    response_sla: Duration
    examples: list[str] = []


def default_severities() -> dict[SeverityName, SeverityLevel]:
    """The seed's severity table, word for word."""
    return {
        "P0": SeverityLevel(
            label="Critical",
            action="page",
            response_sla=dt.timedelta(0),
            examples=[
                "Complete service outage",
                "Data breach or security incident",
                "Payment processing down",
            ],
        ),
        "P1": SeverityLevel(
            label="High",
            action="alert",
            response_sla=dt.timedelta(minutes=30),
            examples=[
                "Partial outage (>25% of users affected)",
                "Authentication failures",
                "Database connectivity issues",
            ],
        ),
        "P2": SeverityLevel(
            label="Medium",
            action="ticket",
            response_sla=dt.timedelta(hours=4),
            examples=[
                "Performance degradation",
                "Non-critical feature broken",
                "Elevated error rates",
            ],
        ),
        "P3": SeverityLevel(
            label="Low",
            action="backlog",
            response_sla=dt.timedelta(hours=24),
            examples=["Minor UI bugs", "Documentation errors", "Feature requests"],
        ),
    }


# --- the watched app and database -----------------------------------------------------


class StoreConfig(Model):
    url: SecretUrl = SecretUrl("sqlite:///opsbook.db")


class AppConfig(Model):
    name: str = "app"
    url: str = "http://127.0.0.1:8300"
    health_path: str = "/api/health"
    version_path: str = "/api/version"
    expected_commit: str | None = None
    # The seed's smoke test: sign in, dashboard, scenario list, settings (config/deploy.py).
    smoke_paths: SmokePaths = [
        SmokePath(path=p) for p in ("/sign-in", "/dashboard", "/scenarios", "/settings")
    ]
    # A test account's session, presented to the app's pages (config/session.py).
    session: AppSession | None = None


class DatabaseConfig(Model):
    url: SecretUrl | None = None
    disk_quota: Annotated[ByteSize, Field(gt=0, le=2**63 - 1)] | None = None
    statement_timeout_expected: bool = True


# --- alert rules -----------------------------------------------------------------------


class RuleSeverity(Model):
    warn: SeverityName = "P2"
    crit: SeverityName = "P1"


class AlertRule(Model):
    name: str
    metric: str
    aggregation: Literal["avg", "max", "min", "p95", "rate", "last"] = "avg"
    window: Interval | None = None
    warn: Threshold | None = None
    crit: Threshold | None = None
    direction: Literal["above", "below"] = "above"
    for_: Duration = Field(default=dt.timedelta(0), alias="for")
    keep_firing: Duration = dt.timedelta(0)
    component: str | None = None
    runbook: str | None = None
    severity: RuleSeverity = RuleSeverity()


class AlertGrouping(Model):
    """Time-based grouping against alert storms (a shared dependency fails and every check
    behind it fires): once `max_incidents` incidents opened by alerts within `window` are
    still open, further alerts join the newest of them instead of opening more."""

    window: Interval = dt.timedelta(minutes=10)
    max_incidents: int = Field(default=3, ge=1, le=1000)


class AlertsConfig(Model):
    window: Interval = dt.timedelta(minutes=5)
    rules: list[AlertRule] = []
    grouping: AlertGrouping | None = AlertGrouping()  # null: every alert may open one


class IncidentPolicy(Model):
    """The seed's on-call clocks ("During Incident", P0 "Resolution", "After Incident")."""

    ack_within: Duration = dt.timedelta(minutes=5)
    team_update_every: Interval = dt.timedelta(minutes=30)
    customer_update_severities: list[SeverityName] = ["P0"]
    customer_update_after: Duration = dt.timedelta(minutes=15)
    customer_update_every: Interval = dt.timedelta(minutes=30)
    escalate_after: Duration = dt.timedelta(minutes=30)
    monitor_for: Duration = dt.timedelta(minutes=15)
    postmortem_within: Duration = dt.timedelta(hours=24)


class DownsampleTier(Model):
    """Check results and metric samples summed into buckets of `every`, kept for `keep`."""

    every: Duration
    keep: Duration

    @field_validator("every")
    @classmethod
    def _not_too_fine(cls, every: dt.timedelta) -> dt.timedelta:
        if every < dt.timedelta(seconds=10):
            raise ValueError(f"{format_duration(every)} is finer than 10s")
        return every

    @field_validator("keep")
    @classmethod
    def _longer_than_a_bucket(cls, keep: dt.timedelta, info: ValidationInfo) -> dt.timedelta:
        every = info.data.get("every")
        if every is not None and keep <= every:
            raise ValueError(
                f"{format_duration(keep)} must be longer than every ({format_duration(every)})"
            )
        return keep


def default_downsample() -> list[DownsampleTier]:
    return [
        DownsampleTier(every=dt.timedelta(minutes=5), keep=dt.timedelta(days=90)),
        DownsampleTier(every=dt.timedelta(hours=1), keep=dt.timedelta(days=730)),
    ]


class WatchConfig(Model):
    concurrency: int = Field(default=100, ge=1, le=10_000)
    jitter: float = Field(default=0.1, ge=0, le=1)
    # Raw samples (what rule windows read); older ones live on in the downsampled tiers.
    retention: Annotated[Duration, at_least(dt.timedelta(minutes=1))] = dt.timedelta(days=7)
    downsample: list[DownsampleTier] = Field(default_factory=default_downsample, max_length=5)
    evaluate_every: Interval = dt.timedelta(seconds=15)

    @field_validator("downsample")
    @classmethod
    def _distinct_tiers(cls, tiers: list[DownsampleTier]) -> list[DownsampleTier]:
        seen = set()
        for tier in tiers:
            if tier.every in seen:
                raise ValueError(f"two tiers with every {format_duration(tier.every)}")
            seen.add(tier.every)
        return sorted(tiers, key=lambda t: t.every)


class ServeConfig(Model):
    host: str = "127.0.0.1"
    port: Port = 8400
    # Every request body (an Alertmanager group is a few KiB): larger ones answer 413.
    max_body: ByteSize = Field(default=ByteSize(MAX_BODY_BYTES), ge=1, le=1 << 30)
    # JSON nested deeper answers 400; past ~900 json.loads itself would fail with a 500.
    max_json_depth: int = Field(default=MAX_JSON_DEPTH, ge=1, le=500)
    # GET /metrics names every check, so it is never public: it answers a scraper that
    # sends this bearer token, and 404 while the token is unset (metrics off).
    metrics_token: Secret | None = None


class AlertmanagerConfig(Model):
    token: Secret | None = None
    severity: dict[str, SeverityName] = {
        "critical": "P1",
        "page": "P1",
        "warning": "P2",
        "info": "P3",
    }


class RunbooksConfig(Model):
    paths: list[str] = ["runbooks"]


# A variable's name as a shell and .env write it.
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]


class Config(Model):
    version: Literal[1] = 1
    project: str = "opsbook"
    timezone: str = "UTC"
    store: StoreConfig = StoreConfig()
    app: AppConfig = AppConfig()
    database: DatabaseConfig = DatabaseConfig()
    severities: dict[SeverityName, SeverityLevel] = Field(default_factory=default_severities)
    checks: list[Check] = []
    alerts: AlertsConfig = AlertsConfig()
    notify: NotifyConfig = NotifyConfig()
    oncall: OncallConfig = OncallConfig()
    escalation: EscalationConfig = EscalationConfig()
    incidents: IncidentPolicy = IncidentPolicy()
    watch: WatchConfig = WatchConfig()
    serve: ServeConfig = ServeConfig()
    alertmanager: AlertmanagerConfig = AlertmanagerConfig()
    status: StatusConfig = StatusConfig()
    runbooks: RunbooksConfig = RunbooksConfig()
    backups: BackupsConfig = BackupsConfig()
    deploy: DeployConfig = DeployConfig()
    maintenance: MaintenanceConfig = MaintenanceConfig()
    # Where to find each `${VAR}`'s value (`opsbook init` writes them to .env.example). A
    # variable named here that is unset leaves its channel or check off, as a secret does.
    env: dict[EnvName, Annotated[str, StringConstraints(max_length=2000)]] = {}

    _source: Path | None = PrivateAttr(default=None)
    # Set by the loader (config/unset.py): secrets left unset, each keeping its feature off.
    _unset: tuple[UnsetSecret, ...] = PrivateAttr(default=())
    # Values .env gave to variables whose names say they are secret: masked like the
    # environment's (secrets.secrets_of).
    _env_file_secrets: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("severities", mode="after")
    @classmethod
    def _complete_severities(
        cls, value: dict[SeverityName, SeverityLevel]
    ) -> dict[SeverityName, SeverityLevel]:
        # Overriding one level keeps the seed's definition of the others.
        return default_severities() | value

    @property
    def source(self) -> Path | None:
        """The file this config came from; None when running on built-in defaults."""
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source else Path.cwd()

    def resolve_path(self, value: str | Path) -> Path:
        """Paths in the config are relative to the config file, not the working directory."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def unset_secrets(self) -> tuple[UnsetSecret, ...]:
        return self._unset

    def off_reason(self, section: str, name: str | None = None) -> str | None:
        """Why a feature is off (`off_reason("notify.channels", "pagerduty")`, `("checks",
        "database")`, `("database")`), or None when it is on."""
        reasons = [
            u.reason
            for u in self._unset
            if u.section == section and (name is None or u.name == name)
        ]
        return "; ".join(dict.fromkeys(reasons)) or None

    def severity(self, name: str) -> SeverityLevel:
        """The level for P0..P3 (the seed's, unless overridden); KeyError for anything else."""
        return self.severities[cast(SeverityName, name)]
