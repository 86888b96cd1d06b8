"""The demo's opsbook.yaml: the voiceaitraining profile pointed at the sandbox, with no
check that would fail for want of the internet. `tls` reads a local TLS endpoint whose
self-signed certificate it trusts by `ca_file`, `email-dns` asks a local DNS stand-in;
what cannot pass here is left out, and the demo says so."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

from opsbook.config import Config, load_config
from opsbook.config.profiles import fill_variables, profile_text
from opsbook.console import console, safe
from opsbook.sandbox.providers import STATUS_PROVIDERS
from opsbook.sandbox.settings import SandboxSettings
from opsbook.sandbox.standins import DnsServer, TlsServer, can_make_certificates, make_certificate

PROFILE = "voiceaitraining"
EMAIL_DOMAIN = "voiceaitraining.com"
# Channels the demo cannot reach point at a closed local port, never at a real service.
UNREACHABLE = "http://127.0.0.1:9/not-configured"
# What the profile's email-dns check asks for, as Resend's domain setup publishes it.
EMAIL_RECORDS = {
    EMAIL_DOMAIN: ["v=spf1 include:amazonses.com ~all"],
    f"resend._domainkey.{EMAIL_DOMAIN}": ["p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDdemo"],
    f"_dmarc.{EMAIL_DOMAIN}": ["v=DMARC1; p=none"],
}
NO_BACKUP = "no backup is taken here (opsbook backup create, then backup verify)"
NO_OPENSSL = "openssl is not installed to make the sandbox a certificate"


def demo_config(
    cleanup: ExitStack, state_dir: Path, app_url: str, database_url: str, settings: SandboxSettings
) -> Config:
    """Start the stand-ins, write the config beside the demo's state, and load it."""
    values = {
        "APP_URL": app_url,
        "APP_HOST": "127.0.0.1",
        "DATABASE_URL": database_url,
        "OPSBOOK_STORE_URL": f"sqlite:///{state_dir / 'opsbook.db'}",
        "EXPECTED_COMMIT": settings.commit,
        "EMAIL_DOMAIN": EMAIL_DOMAIN,
        # The providers' status pages, as the sandbox serves them (the real ones are remote).
        **{f"{s.upper()}_STATUS_URL": f"{app_url}/_providers/{s}" for s in STATUS_PROVIDERS},
        "PAGERDUTY_ROUTING_KEY": "demo-routing-key",
        "SLACK_INCIDENTS_WEBHOOK": UNREACHABLE,
        "SLACK_DEPLOYS_WEBHOOK": UNREACHABLE,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_USERNAME": "demo",
        "SMTP_PASSWORD": "demo",
    }
    data = yaml.safe_load(fill_variables(profile_text(PROFILE), values))
    left_out = {"backup": NO_BACKUP}
    dns = DnsServer(EMAIL_RECORDS)
    cleanup.callback(dns.close)
    _point(data, "dns", nameservers=[dns.address])
    if can_make_certificates():
        cert, key = make_certificate(state_dir, days=90)
        tls = TlsServer(cert, key)
        cleanup.callback(tls.close)
        _point(data, "tls", host="127.0.0.1", port=tls.port, ca_file=str(cert))
    else:
        left_out["tls"] = NO_OPENSSL
    _leave_out(data, left_out)
    for name, why in left_out.items():
        console.print(f"left out          the {safe(name)} check: {safe(why)}")
    path = state_dir / "opsbook.yaml"
    path.write_text(_HEADER + yaml.safe_dump(data, sort_keys=False, width=88))
    return load_config(path, env={})


_HEADER = f"""\
# Written by `opsbook demo` from the {PROFILE} profile (`opsbook init --profile
# {PROFILE}` writes it with its comments), pointed at the sandbox and its stand-ins.
"""


def _point(data: dict[str, Any], kind: str, **fields: Any) -> None:
    """Point every check of `kind` at the stand-in `fields` name."""
    for check in data["checks"]:
        if check["kind"] == kind:
            check.update(fields)


def _leave_out(data: dict[str, Any], names: dict[str, str]) -> None:
    """Drop the named checks, and their places on the status page's components."""
    data["checks"] = [c for c in data["checks"] if c["name"] not in names]
    for component in data.get("status", {}).get("components", []):
        component["checks"] = [c for c in component.get("checks", []) if c not in names]
