"""`tls` checks: days until the certificate expires (warn and critical thresholds)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl

from opsbook.config.checks import TlsCheck
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult, State


async def run(check: TlsCheck, ctx: ProbeContext) -> CheckResult:
    now = ctx.clock.now()
    context = ssl.create_default_context(cafile=check.ca_file)
    name = check.server_name or check.host
    label = f"{check.host}:{check.port}"
    try:
        async with asyncio.timeout(check.timeout.total_seconds()):
            _reader, writer = await asyncio.open_connection(
                check.host, check.port, ssl=context, server_hostname=name
            )
    except TimeoutError:
        return CheckResult(
            check.name,
            "tls",
            "down",
            f"{label}: no TLS handshake within {check.timeout.total_seconds():g}s",
            now,
        )
    except ssl.SSLCertVerificationError as exc:
        return CheckResult(
            check.name,
            "tls",
            "down",
            f"{label}: certificate not trusted ({exc.verify_message})",
            now,
        )
    except (OSError, ssl.SSLError) as exc:
        return CheckResult(check.name, "tls", "down", f"{label}: {exc.strerror or exc}", now)
    certificate = writer.get_extra_info("peercert") or {}
    writer.close()
    expires = dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(certificate["notAfter"]), dt.UTC)
    days = (expires - now).total_seconds() / 86400
    when = f"expires {expires:%Y-%m-%d} ({days:.0f} days)"
    state: State
    if days < check.crit_days:
        state, why = "down", f"fewer than {check.crit_days} days left: renew now"
    elif days < check.warn_days:
        state, why = "degraded", f"fewer than {check.warn_days} days left"
    else:
        state, why = "ok", "valid"
    return CheckResult(
        check.name,
        "tls",
        state,
        f"{label}: certificate {when}, {why}",
        now,
        metrics={"tls_days_left": round(days, 2)},
        details={"expires": expires.isoformat()},
    )
