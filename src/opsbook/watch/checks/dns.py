"""`dns` checks: the email domain's SPF, DKIM and DMARC records (the runbook's
"Emails Not Sending": check SPF/DKIM DNS records)."""

from __future__ import annotations

import dns.asyncresolver
import dns.exception
import dns.resolver

from opsbook.config.checks import DnsCheck
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult


def _resolver(check: DnsCheck) -> dns.asyncresolver.Resolver:
    if not check.nameservers:
        resolver = dns.asyncresolver.Resolver()
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = []
        for server in check.nameservers:
            host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
            resolver.nameservers.append(host or server)
            if port:
                resolver.port = int(port)
    resolver.lifetime = check.timeout.total_seconds()
    return resolver


async def _txt(resolver: dns.asyncresolver.Resolver, name: str) -> list[str]:
    try:
        answer = await resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return [b"".join(r.strings).decode(errors="replace") for r in answer]


async def run(check: DnsCheck, ctx: ProbeContext) -> CheckResult:
    now = ctx.clock.now()
    resolver = _resolver(check)
    found: dict[str, str] = {}
    missing: list[str] = []
    wanted: list[tuple[str, str, str]] = []  # (key, name, what a valid record looks like)
    if "spf" in check.require:
        wanted.append(("spf", check.domain, "v=spf1"))
    if "dkim" in check.require:
        wanted += [
            (f"dkim:{s}", f"{s}._domainkey.{check.domain}", "p=")
            for s in check.dkim_selectors or ["default"]
        ]
    if "dmarc" in check.require:
        wanted.append(("dmarc", f"_dmarc.{check.domain}", "v=DMARC1"))
    try:
        for key, name, marker in wanted:
            records = [t for t in await _txt(resolver, name) if marker in t]
            if records:
                found[key] = records[0]
            else:
                missing.append(f"no {key.split(':')[0].upper()} record ({marker}) at {name}")
    except dns.exception.Timeout:
        return CheckResult(
            check.name,
            "dns",
            "error",
            f"{check.domain}: DNS did not answer within {check.timeout.total_seconds():g}s",
            now,
        )
    except dns.exception.DNSException as exc:
        return CheckResult(check.name, "dns", "error", f"{check.domain}: DNS failed: {exc}", now)
    if missing:
        return CheckResult(
            check.name, "dns", "down", "; ".join(missing), now, details={"found": found}
        )
    return CheckResult(
        check.name,
        "dns",
        "ok",
        f"{check.domain}: {', '.join(sorted(found))} present",
        now,
        details={"found": found},
    )
