"""`opsbook history`: uptime and latency of each check, or one metric, over days or months.

Answers the question a responder asks next after "what is broken": is this new, or has it
been flaky all week?
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from typing import Any

import typer
from rich.text import Text

from opsbook.config import format_duration
from opsbook.config.models import DownsampleTier
from opsbook.console import Table, console, duration_option, fail, print_json, safe, typed
from opsbook.context import app_context
from opsbook.store import Store
from opsbook.watch import history
from opsbook.watch.cli import choose_checks

BAR_WIDTH = 48


def percent(value: float | None) -> str:
    """An uptime share as a responder reads it: never rounded up to 100%."""
    if value is None:
        return "no runs"
    if value == 1:
        return "100%"
    if value < 0.99:
        return f"{value * 100:.3g}%"
    # Two decimals, rounded down, where it matters: 99.95% is not 100%.
    return f"{math.floor(value * 10_000) / 100:.2f}%"


def bar(
    series: list[tuple[dt.datetime, history.Uptime]],
    since: dt.datetime,
    now: dt.datetime,
    width: int = BAR_WIDTH,
) -> str:
    """One character per slice of the window, like a status page's uptime bar: green all
    up, yellow some runs down or degraded, red mostly down, grey nothing ran."""
    step = (now - since) / width
    slots: list[list[history.Uptime]] = [[] for _ in range(width)]
    for start, counts in series:
        index = min(width - 1, max(0, int((start - since) / step)))
        slots[index].append(counts)
    marks = []
    for slot in slots:
        runs = sum(u.runs for u in slot)
        down = sum(u.down for u in slot)
        degraded = sum(u.degraded for u in slot)
        if not runs:
            marks.append("[grey50]·[/]")
        elif down * 2 > runs:
            marks.append("[red]▁[/]")
        elif down or degraded:
            marks.append("[yellow]▄[/]")
        else:
            marks.append("[green]█[/]")
    return "".join(marks)


def _bucket(start: dt.datetime, counts: history.Uptime) -> dict[str, Any]:
    fields = counts.as_dict()
    del fields["name"], fields["since"]
    return {"start": start, **fields}


def show(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, metavar="[CHECK]..."),
    since: str = typer.Option("24h", "--since", help="How far back: 1h, 24h, 7d, 90d..."),
    metric: str | None = typer.Option(
        None, "--metric", help="Show one metric bucket by bucket instead of the checks."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Uptime, runs, failures and latency per check from the downsampled history.

    Example: opsbook history health --since 7d
    """
    context = app_context(ctx)
    config = context.config(required=True)
    window = duration_option("--since", since, minimum=dt.timedelta(seconds=1))
    now = context.clock.now()
    start = now - window
    tiers = config.watch.downsample
    if not tiers:
        fail("watch.downsample is empty in the config: no history is kept")
    tier = history.tier_for(tiers, start, now)
    assert tier is not None
    if metric is not None:
        _show_metric(context.store(), tiers, metric, start, now, as_json)
        return
    chosen = [c.name for c in choose_checks(config, names)]
    with context.store().session() as session:
        found = history.uptime(session, tiers, since=start, now=now, names=chosen)
        series = history.check_series(session, tiers, chosen, since=start, now=now)
    if as_json:
        print_json(
            {
                "since": start,
                "resolution_seconds": tier.every.total_seconds(),
                "checks": [
                    {
                        **(found[n].as_dict() if n in found else {"name": n, "runs": 0}),
                        "buckets": [_bucket(bucket, counts) for bucket, counts in series[n]],
                    }
                    for n in chosen
                ],
            }
        )
        return
    if now - tier.keep > start:
        console.print(
            f"[yellow]history reaches back {format_duration(tier.keep)} "
            f"(watch.downsample); older runs are gone[/]"
        )
    table = Table(
        typed("check"), f"uptime {since}", "runs", "down", "degraded", "avg ms", "max ms", "history"
    )
    for name in chosen:
        up = found.get(name)
        if up is None:
            table.add_row(name, "no runs", "0", "", "", "", "", "")
            continue
        table.add_row(
            name,
            percent(up.uptime),
            f"{up.runs:,}",
            f"{up.down:,}",
            f"{up.degraded:,}",
            f"{up.latency_avg_ms:.0f}" if up.latency_avg_ms is not None else "",
            f"{up.latency_max_ms:.0f}" if up.latency_max_ms is not None else "",
            Text.from_markup(bar(series[name], start, now)),
        )
    console.print(table)


def _show_metric(
    store: Store,
    tiers: list[DownsampleTier],
    metric: str,
    start: dt.datetime,
    now: dt.datetime,
    as_json: bool,
) -> None:
    with store.session() as session:
        buckets = history.metric_series(session, tiers, metric, since=start, now=now)
        known = history.metric_names(session) if not buckets else [metric]
    if metric not in known:
        close = difflib.get_close_matches(metric, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listed = ", ".join(known) if known else "none yet"
        fail(f"no history for metric {metric!r}{hint}; metrics with history: {listed}")
    if as_json:
        print_json({"metric": metric, "since": start, "buckets": [b.as_dict() for b in buckets]})
        return
    if not buckets:
        console.print(f"{safe(metric)}: no samples since {start:%Y-%m-%d %H:%M} UTC")
        return
    table = Table("bucket (UTC)", "samples", "avg", "low", "high")
    for b in buckets:
        table.add_row(
            f"{b.start:%Y-%m-%d %H:%M}", f"{b.count:,}", f"{b.avg:g}", f"{b.low:g}", f"{b.high:g}"
        )
    console.print(table)
