"""The four stages of verifying a deploy, in the seed's order: version, health, smoke,
watch. Each asks the app through the watch package's probes (one HTTP prober in
opsbook) and returns what it saw; none raises for a failing app."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from opsbook.clock import Sleep
from opsbook.config.checks import HttpCheck, HttpExpect, VersionCheck
from opsbook.config.deploy import DeployConfig, SmokePath
from opsbook.config.models import AppConfig
from opsbook.config.secrets import is_set
from opsbook.config.session import goes_to
from opsbook.watch import levels
from opsbook.watch.checks import http, version
from opsbook.watch.checks.fetch import Answer, Unreachable, request, short
from opsbook.watch.probe import ProbeContext

Outcome = Literal["passed", "failed", "skipped"]
STAGES = ("version", "health", "smoke", "watch")
TIMEOUT = dt.timedelta(seconds=10)


@dataclass
class Stage:
    name: str
    outcome: Outcome
    started_at: dt.datetime
    ended_at: dt.datetime
    saw: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome != "failed"


@dataclass
class Target:
    """One deploy to verify: the commit, where it runs, how long to wait and watch."""

    commit: str
    env: str
    url: str
    wait: dt.timedelta
    watch: dt.timedelta


@dataclass
class Kit:
    """What every stage shares: the probe's context, the settings, a way to wait, and
    where to say how a long stage is going (`note(stage, text)`)."""

    probe: ProbeContext
    app: AppConfig
    settings: DeployConfig
    sleep: Sleep
    note: Callable[[str, str], None]

    def address(self, target: Target, path: str) -> str:
        return target.url.rstrip("/") + path


class FirstContactFailed(Exception):
    """The app did not answer the first request at all: the URL is wrong or the app is
    down, and there is no deploy to judge."""


async def check_version(kit: Kit, target: Target) -> Stage:
    """Poll the version endpoint until it reports the commit, up to `target.wait`."""
    started = kit.probe.clock.now()
    check = VersionCheck(
        kind="version",
        name="deploy-version",
        url=kit.address(target, kit.app.version_path),
        expected=target.commit,
        timeout=TIMEOUT,
    )
    try:
        await _get(kit, check.url)
    except Unreachable as exc:
        raise FirstContactFailed(f"GET {check.url}: {exc}") from None
    while True:
        result = await version.run(check, kit.probe)
        now = kit.probe.clock.now()
        saw = result.details.get("commit")
        if result.ok:
            return Stage("version", "passed", started, now, result.summary, {"commit": saw})
        if now - started >= target.wait:
            waited = _minutes(now - started)
            return Stage(
                "version",
                "failed",
                started,
                now,
                f"after {waited}: {result.summary}",
                {"commit": saw},
            )
        kit.note("version", f"waiting for {target.commit[:12]}: {result.summary}")
        await kit.sleep(min(kit.settings.poll_every, target.wait).total_seconds())


async def check_health(kit: Kit, target: Target) -> Stage:
    """The seed's "Expected: {"status":"ok"}", through the http check."""
    started = kit.probe.clock.now()
    check = HttpCheck(
        kind="http",
        name="deploy-health",
        url=kit.address(target, kit.app.health_path),
        timeout=TIMEOUT,
        expect=HttpExpect.model_validate({"status": 200, "json": ['status == "ok"']}),
    )
    result = await http.run(check, kit.probe)
    outcome: Outcome = "passed" if result.ok else "failed"
    return Stage("health", outcome, started, kit.probe.clock.now(), result.summary)


def smoke_problem(smoke: SmokePath, answer: Answer, page_url: str) -> str | None:
    """What is wrong with one smoke page's answer; None when it is what the path expects."""
    if answer.status not in smoke.statuses:
        wanted = " or ".join(map(str, smoke.statuses))
        moved = f" to {answer.location}" if answer.location else ""
        return f"{smoke.path}: expected {wanted}, got {answer.status}{moved}"
    if smoke.redirect_to is not None:
        landed = urlsplit(urljoin(page_url, answer.location or ""))
        wanted_at = urlsplit(urljoin(page_url, smoke.redirect_to))
        if (landed.netloc, landed.path) != (wanted_at.netloc, wanted_at.path):
            return (
                f"{smoke.path}: expected a redirect to {smoke.redirect_to}, got {answer.location}"
            )
    if smoke.contains is not None and smoke.contains not in answer.text:
        return f"{smoke.path}: the page does not contain {smoke.contains!r}"
    return None


async def _get(kit: Kit, url: str) -> Answer:
    timeout = TIMEOUT.total_seconds()
    return await request(kit.probe, "GET", url, timeout=timeout, follow_redirects=False)


@dataclass(frozen=True)
class Page:
    """One smoke page as opened (redirects not followed): what it answered, how long it
    took, and what is wrong with it (None when it is what its path expects)."""

    path: str
    status: int | None
    elapsed_ms: float | None
    location: str | None
    problem: str | None
    # Whether the request presented app.session (a signed-in page needs it), and whether
    # one was set but kept from this URL (another origin, or plain http over a network).
    signed_in: bool = False
    session_withheld: bool = False


def session_headers(app: AppConfig, url: str) -> dict[str, str]:
    """The app.session cookie to send with a page request to `url`; none when it is not
    configured or `url` is not the app's own origin over https (or this machine)."""
    return app.session.headers(url, app.url) if app.session is not None else {}


def session_withheld(app: AppConfig, url: str) -> bool:
    """A session is configured but not sent to `url` (config/session.py `goes_to`)."""
    return app.session is not None and is_set(app.session.value) and not goes_to(url, app.url)


async def open_page(
    probe: ProbeContext, base_url: str, smoke: SmokePath, *, app: AppConfig
) -> Page:
    """Open one smoke page and judge it: the one prober of verify and the runbooks. The
    page is opened signed in when app.session is set and may go to `base_url`."""
    url = base_url.rstrip("/") + smoke.path
    headers = session_headers(app, url)
    signed_in = bool(headers)
    withheld = session_withheld(app, url)
    try:
        answer = await request(
            probe,
            "GET",
            url,
            timeout=TIMEOUT.total_seconds(),
            headers=headers,
            follow_redirects=False,
        )
    except Unreachable as exc:
        return Page(smoke.path, None, None, None, f"{smoke.path}: {exc}", signed_in, withheld)
    problem = smoke_problem(smoke, answer, url)
    return Page(
        smoke.path, answer.status, answer.elapsed_ms, answer.location, problem, signed_in, withheld
    )


async def check_smoke(kit: Kit, target: Target) -> Stage:
    """Open each critical path once; a redirect counts only where the path expects it."""
    started = kit.probe.clock.now()
    seen: list[str] = []
    for smoke in kit.app.smoke_paths:
        page = await open_page(kit.probe, target.url, smoke, app=kit.app)
        if page.problem:
            return Stage("smoke", "failed", started, kit.probe.clock.now(), page.problem)
        seen.append(f"{smoke.path} {page.status}")
        kit.note("smoke", ", ".join(seen))
    return Stage("smoke", "passed", started, kit.probe.clock.now(), ", ".join(seen) or "no paths")


@dataclass
class Samples:
    """Answers seen while watching: (when, 1 for a 5xx or no answer, seconds taken)."""

    errors: list[tuple[dt.datetime, float]] = field(default_factory=list)
    latencies: list[tuple[dt.datetime, float]] = field(default_factory=list)

    def add(self, at: dt.datetime, error: bool, seconds: float | None) -> None:
        self.errors.append((at, 1.0 if error else 0.0))
        if seconds is not None:
            self.latencies.append((at, seconds))

    def since(self, start: dt.datetime) -> Samples:
        return Samples(
            [s for s in self.errors if s[0] >= start], [s for s in self.latencies if s[0] >= start]
        )


def judge(samples: Samples, settings: DeployConfig) -> tuple[bool, str]:
    """Crossed or not, in words: the error rate (the seed's "% of 5xx responses") and the
    p95 response time, against the critical thresholds."""
    rate = levels.aggregate("avg", samples.errors)
    p95 = levels.aggregate("p95", samples.latencies)
    crossed = levels.level_of(settings.error_rate, rate) == "crit" or (
        levels.level_of(settings.p95, p95) == "crit"
    )
    said = f"error rate {rate or 0:.2%}" + (f", p95 {p95 * 1000:.0f} ms" if p95 is not None else "")
    limits = f"(fails above {settings.error_rate.crit:.0%} or {settings.p95.crit:g}s)"
    return crossed, f"{said} over {len(samples.errors)} requests {limits}"


async def _sample(kit: Kit, target: Target, samples: Samples) -> None:
    for smoke in kit.app.smoke_paths:
        try:
            answer = await _get(kit, kit.address(target, smoke.path))
        except Unreachable:
            samples.add(kit.probe.clock.now(), True, None)
            continue
        samples.add(kit.probe.clock.now(), answer.status >= 500, answer.elapsed_ms / 1000)


async def check_watch(kit: Kit, target: Target) -> Stage:
    """Sample the critical paths every `sample_every` for `target.watch`; fail as soon as
    the newest window holds enough answers and crosses a critical threshold (at the end,
    whatever it holds)."""
    started = kit.probe.clock.now()
    if target.watch <= dt.timedelta(0):
        return Stage("watch", "skipped", started, started, "not watched (--watch 0)")
    settings, samples = kit.settings, Samples()
    while True:
        await _sample(kit, target, samples)
        now = kit.probe.clock.now()
        recent = samples.since(now - settings.window)
        done = now - started >= target.watch
        crossed, said = judge(recent, settings)
        if crossed and (done or len(recent.errors) >= settings.min_requests):
            return Stage(
                "watch", "failed", started, now, f"after {_minutes(now - started)}: {said}"
            )
        if done:
            return Stage("watch", "passed", started, now, f"{_minutes(now - started)}: {said}")
        kit.note("watch", f"{_minutes(now - started)} of {_minutes(target.watch)}: {said}")
        left = target.watch - (now - started)
        await kit.sleep(min(settings.sample_every, left).total_seconds())


def _minutes(span: dt.timedelta) -> str:
    seconds = round(span.total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


STAGE_RUNNERS = {
    "version": check_version,
    "health": check_health,
    "smoke": check_smoke,
    "watch": check_watch,
}


def shorten(text: str) -> str:
    """A stage's words as a record keeps them: one line, bounded."""
    return short(text, 500)
