"""`statuspage` checks against real Statuspage v2 pages served on 127.0.0.1: selecting the
components a team depends on, naming the worst, and URLs pasted either way.

The fixtures follow the published summary.json field for field: a Vercel-like page with a
component per region in two groups (the same region names in both), and a Supabase-like
page with a database region under maintenance.
"""

from __future__ import annotations

import asyncio
import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from opsbook.cli import app
from opsbook.clock import FrozenClock
from opsbook.config import Config, ConfigError, parse_config
from opsbook.watch.result import CheckResult
from opsbook.watch.runner import run_checks
from tests.test_hostile_text import HOSTILE, RAW
from tests.watch.fakes import FakeStatusPages

FIXTURES = Path(__file__).parent / "fixtures"
FRA1 = "Frankfurt, Germany (fra1)"
IAD1 = "Washington, D.C., USA (iad1)"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}-summary.json").read_text())
    return data


def with_status(page: dict[str, Any], status: str, *names: str, group: str | None = None) -> None:
    """Set the named components (in `group` only, when given) to `status`."""
    groups = {c["id"]: c["name"] for c in page["components"] if c["group"]}
    for c in page["components"]:
        if c["name"] in names and (group is None or groups.get(c["group_id"]) == group):
            c["status"] = status


def calm(page: dict[str, Any]) -> dict[str, Any]:
    """The page with every component operational and nothing going on."""
    page = copy.deepcopy(page)
    for c in page["components"]:
        c["status"] = "operational"
    page["incidents"], page["scheduled_maintenances"] = [], []
    page["status"] = {"indicator": "none", "description": "All Systems Operational"}
    return page


def check(url: str, clock: FrozenClock, **fields: Any) -> CheckResult:
    spec = {"name": "vercel", "kind": "statuspage", "provider": "Vercel", "url": url, **fields}
    config = Config.model_validate({"checks": [spec]})
    [result] = asyncio.run(run_checks(config, config.checks, clock=clock))
    return result


def serve(
    status_pages: tuple[FakeStatusPages, str], body: dict[str, Any], slug: str = "vercel"
) -> str:
    fake, url = status_pages
    fake.pages[slug] = ("statuspage", body)
    return f"{url}/{slug}"


# --- per-region pages ------------------------------------------------------------------


def test_one_regions_outage_counts_only_for_checks_that_select_it(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    url = serve(status_pages, fixture("vercel"))
    ours = check(url, clock, components=[IAD1, "San Francisco, USA (sfo1)", "API"])
    assert (ours.state, ours.summary) == ("ok", "Vercel: 5 selected components operational")
    assert ours.details["selected"] == 5  # each region in both groups, and the API

    theirs = check(url, clock, components=[f"Edge Network/{FRA1}"])
    assert theirs.state == "down"
    assert theirs.summary == (
        f"Vercel: major outage: Edge Network/{FRA1};"
        " Elevated errors for requests served from fra1 (identified, impact major)"
    )
    # Unfiltered, the whole page counts, as before.
    everything = check(url, clock)
    assert everything.state == "down" and f"Edge Network/{FRA1}" in everything.summary


def test_ignore_leaves_a_group_out_and_an_incident_elsewhere_is_not_ours(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    url = serve(status_pages, fixture("vercel"))
    result = check(url, clock, ignore=["edge network"])  # names ignore case
    assert (result.state, result.summary) == ("ok", "Vercel: 26 selected components operational")
    assert result.details["incidents"] == []


def test_a_group_is_named_once_never_with_its_children(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    page = calm(fixture("vercel"))
    edge = [c["name"] for c in page["components"] if c["group_id"]]
    with_status(page, "partial_outage", *edge, group="Edge Network")
    with_status(page, "partial_outage", "Edge Network")  # the group's own status follows
    with_status(page, "partial_outage", "Builds")
    url = serve(status_pages, page)
    result = check(url, clock, components=["Edge Network", "Builds", "API"])
    assert (result.state, result.summary) == (
        "degraded",
        "Vercel: partial outage: Builds, Edge Network",
    )
    assert result.details["affected"] == ["Builds", "Edge Network"]


def test_many_affected_components_are_listed_a_few_then_counted(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    page = calm(fixture("vercel"))
    codes = ["iad1", "cle1", "pdx1", "sfo1", "yul1", "gru1"]
    names = [c["name"] for c in page["components"] if c["name"][-5:-1] in codes]
    with_status(page, "degraded_performance", *names, group="Serverless Functions")
    with_status(page, "partial_outage", "Serverless Functions")
    result = check(serve(status_pages, page), clock, components=["Serverless Functions"])
    assert result.state == "degraded"
    assert result.summary == (
        "Vercel: degraded performance: Serverless Functions/Washington, D.C., USA (iad1),"
        " Serverless Functions/Cleveland, USA (cle1), Serverless Functions/Portland, USA (pdx1)"
        " and 3 more"
    )
    assert len(result.details["affected"]) == 6


def test_the_worst_selected_status_decides(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    page = calm(fixture("vercel"))
    with_status(page, "degraded_performance", "Dashboard")
    with_status(page, "partial_outage", "API")
    with_status(page, "under_maintenance", "Domains")
    url = serve(status_pages, page)
    assert check(url, clock, components=["Dashboard", "API", "Domains"]).summary == (
        "Vercel: partial outage: API"
    )
    assert check(url, clock, components=["Dashboard", "Domains"]).summary == (
        "Vercel: degraded performance: Dashboard"
    )
    with_status(page, "major_outage", "DNS")
    serve(status_pages, page)
    assert check(url, clock, components=["DNS", "API"]).state == "down"
    assert check(url, clock, components=["Domains"]).state == "degraded"


def test_a_component_shown_only_when_degraded_still_counts(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    page = calm(fixture("vercel"))
    hidden = [c for c in page["components"] if c["only_show_if_degraded"]]
    assert hidden  # the fixture has some, as Vercel's newest regions are
    hidden[0]["status"] = "major_outage"
    result = check(serve(status_pages, page), clock, components=["Edge Network"])
    assert result.state == "down" and "Cape Town" in result.summary


# --- maintenance -------------------------------------------------------------------------


def test_a_maintenance_in_progress_is_named(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    url = serve(status_pages, fixture("supabase"), "supabase")
    ours = check(url, clock, provider="Supabase", components=["Database/eu-west-1"])
    assert (ours.state, ours.summary) == (
        "degraded",
        "Supabase: under maintenance: Database/eu-west-1 (Database engine upgrade in eu-west-1)",
    )
    assert ours.details["maintenance"] == "Database engine upgrade in eu-west-1"
    # Another region's database: no maintenance of ours, nothing said about it.
    other = check(url, clock, provider="Supabase", components=["Database/us-east-1"])
    assert (other.state, other.summary) == ("ok", "Supabase: 1 selected component operational")
    # A maintenance under way on a selected component that is not marked under maintenance.
    page = fixture("supabase")
    with_status(page, "operational", "eu-west-1", "Database")
    serve(status_pages, page, "supabase")
    quiet = check(url, clock, provider="Supabase", components=["Database"])
    assert (quiet.state, quiet.summary) == (
        "ok",
        "Supabase: 6 selected components operational;"
        " maintenance in progress: Database engine upgrade in eu-west-1",
    )


# --- names the page does not have --------------------------------------------------------


def test_an_unknown_name_is_a_config_error_listing_the_pages_names(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    url = serve(status_pages, fixture("vercel"))
    result = check(url, clock, components=["API", "iad1"])
    assert result.state == "error"
    assert result.summary == (
        "config error in check 'vercel': components: Vercel's page has no component 'iad1';"
        " it has: Dashboard, API, Builds, Domains, DNS, Log Drains, Edge Network,"
        f" {IAD1}, Cleveland, USA (cle1), Portland, USA (pdx1) and 38 more"
    )
    ignored = check(url, clock, ignore=["Edge"])
    assert ignored.state == "error" and "ignore: Vercel's page has no component 'Edge'" in (
        ignored.summary
    )


def test_names_select_only_on_a_page_that_lists_components(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    fake, url = status_pages
    fake.pages["vapi"] = ("instatus", {"page": {"name": "Vapi", "status": "UP"}})
    result = check(f"{url}/vapi", clock, provider="Vapi", components=["Calls"])
    assert result.state == "error"
    assert "components/ignore select Statuspage components" in result.summary


def problems(checks: str) -> list[str]:
    text = "checks:\n" + textwrap.indent(textwrap.dedent(checks), "  ")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file="opsbook.yaml", env={})
    return [str(issue) for issue in caught.value.issues]


def test_the_config_refuses_what_it_can_know_is_wrong() -> None:
    head = "- {name: v, kind: statuspage, provider: Vercel, url: https://www.vercel-status.com"
    assert problems(head + ", components: [API, api]}") == [
        "opsbook.yaml:2:99: checks[0].components: 'api' is listed twice"
    ]
    assert problems(head + ", components: [API], ignore: [Api]}") == [
        "opsbook.yaml:2:114: checks[0].ignore: 'Api' is in components too: select it or ignore it"
    ]
    assert problems(head + ", components: ['  ']}")[0].endswith(
        "checks[0].components[0]: string should have at least 1 character"
    )
    assert "at most 200 characters" in problems(head + f", components: [{'x' * 201}]}}")[0]
    assert problems(
        "- {name: v, kind: statuspage, provider: V, url: 'www.vercel-status.com; rm -rf /'}"
    ) == [
        "opsbook.yaml:2:51: checks[0].url: 'www.vercel-status.com; rm -rf /' is not a status"
        " page URL (use https://status.example.com)"
    ]


# --- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/api/v2/summary.json",
        "/api/v2/summary.json/",
        "/api/v2/status.json",
        "/api/v2",
        "/API/V2/SUMMARY.JSON",
        "#components",
    ],
)
def test_the_page_url_and_any_api_url_reach_the_same_summary(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock, path: str
) -> None:
    url = serve(status_pages, fixture("vercel"))
    result = check(url + path, clock, components=[IAD1])
    assert (result.state, result.summary) == ("ok", "Vercel: 2 selected components operational")


def test_an_instatus_summary_url_works_too(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    fake, url = status_pages
    fake.pages["vapi"] = ("instatus", {"page": {"name": "Vapi", "status": "UP"}})
    result = check(f"{url}/vapi/summary.json", clock, provider="Vapi")
    assert (result.state, result.summary) == ("ok", "Vapi: All systems operational")


# --- a hostile page ----------------------------------------------------------------------


def test_hostile_names_on_the_page_are_shown_as_data(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock, tmp_path: Path
) -> None:
    page = calm(fixture("vercel"))
    with_status(page, "major_outage", "API", "DNS", "Builds")
    for c in page["components"]:
        if c["name"] == "API":
            c["name"] = HOSTILE
        elif c["name"] == "DNS":
            c["name"] = "huge " + "x" * 100_000
        elif c["name"] == "Builds":
            c["name"], c["status"] = "[red]red[/red]", "\x1b[31mmelted\x1b[0m"
    page["incidents"] = [{"name": HOSTILE, "status": "investigating", "impact": "critical"}]
    url = serve(status_pages, page)
    result = check(url, clock)
    assert result.state == "down"
    assert not any(raw in result.summary for raw in RAW)
    assert "[/oops]" in result.summary and "\\x1b[2J" in result.summary
    assert len(result.summary) < 400  # a 100,000-character name is cut
    assert json.loads(json.dumps(result.details))["affected"][1].startswith("huge xxx")
    assert all(len(name) <= 80 for name in result.details["affected"])
    # An unknown status is degraded and said as sent, escaped.
    builds = check(url, clock, components=["[red]red[/red]"])
    assert (builds.state, builds.summary) == (
        "degraded",
        "Vercel: status \\x1b[31mmelted\\x1b[0m: [red]red[/red]",
    )
    # On the terminal: the markup shows as typed, no escape sequence reaches it.
    (tmp_path / "opsbook.yaml").write_text(
        f"checks:\n  - {{name: v, kind: statuspage, provider: Vercel, url: '{url}'}}\n"
    )
    shown = CliRunner().invoke(app, ["--config", str(tmp_path / "opsbook.yaml"), "check"])
    assert shown.exit_code == 1
    assert "[/oops]" in shown.output and not any(raw in shown.output for raw in RAW)


def test_hostile_configured_names_are_words_in_the_error(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    url = serve(status_pages, fixture("vercel"))
    name = "$(touch pwned); rm -rf / [/x] \x1b[2J"
    result = check(url, clock, components=[name])
    assert result.state == "error"
    assert "no component '$(touch pwned); rm -rf / [/x] \\\\x1b[2J'" in result.summary
    assert "\x1b" not in result.summary


@pytest.mark.parametrize(
    "body",
    [
        {"status": {"indicator": "none"}, "components": "not a list", "incidents": 7},
        {"status": {"indicator": "none"}, "components": [1, None, {"group_id": "nowhere"}]},
        {"status": {"indicator": "none"}, "components": [{"name": "x", "status": ["odd"]}]},
        {
            "status": {"indicator": "major"},
            "components": [],
            "incidents": [{"name": "x", "components": 3, "incident_updates": [None, {}]}],
            "scheduled_maintenances": [{"status": "in_progress", "components": None}],
        },
    ],
)
def test_odd_shapes_are_read_without_crashing(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock, body: dict[str, Any]
) -> None:
    result = check(serve(status_pages, body), clock)
    assert result.state in ("ok", "degraded", "down")
    assert not result.summary.startswith("the check itself failed")


def test_json_nested_too_deep_is_not_json(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    fake, url = status_pages
    fake.pages["deep"] = (
        "raw",
        json.dumps({"status": {"indicator": "none"}})[:-1]
        + ', "components": '
        + "[" * 5000
        + "]" * 5000
        + "}",
    )
    result = check(f"{url}/deep", clock)
    assert result.state == "error" and "did not answer JSON" in result.summary


def test_a_summary_longer_than_one_network_chunk_is_read_whole(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    page = fixture("vercel")
    for c in page["components"]:
        c["description"] = "A long description. " * 200  # ~200 KB in all, under the limit
    result = check(serve(status_pages, page), clock, components=[FRA1])
    assert result.state == "down" and result.details["selected"] == 2


def test_an_instatus_incident_title_is_shown_as_data(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    fake, url = status_pages
    incident = {"name": HOSTILE, "status": "INVESTIGATING", "impact": "MAJOROUTAGE"}
    fake.pages["vapi"] = (
        "instatus",
        {"page": {"name": "Vapi", "status": "HASISSUES"}, "activeIncidents": [incident]},
    )
    result = check(f"{url}/vapi", clock, provider="Vapi")
    assert result.state == "down" and "[/oops]" in result.summary
    assert not any(raw in result.summary for raw in RAW)


def test_an_instatus_page_of_another_shape_is_read_not_a_python_error(
    status_pages: tuple[FakeStatusPages, str], clock: FrozenClock
) -> None:
    fake, url = status_pages
    incident = {"name": "Calls failing", "status": "INVESTIGATING", "impact": "MAJOROUTAGE"}
    fake.pages["vapi"] = (
        "instatus",
        {
            "page": {"name": "Vapi", "status": "HASISSUES"},
            "activeIncidents": ["oops", 7, None, incident],
            "activeMaintenances": {"not": "a list"},
        },
    )
    result = check(f"{url}/vapi", clock, provider="Vapi")
    assert (result.state, result.summary) == (
        "down",
        "Vapi: Calls failing (investigating, impact majoroutage)",
    )
