"""The `oncall:` section: a good one loads into typed rotations, hand-offs and windows; a
bad one names file, line, column and field, and loads nothing."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from opsbook.config import ConfigError, parse_config

GOOD = """\
    oncall:
      people:
        - name: Alice Smith
          contacts:
            email: alice@example.com
            phone: "+1 555 0100"
            slack_user_id: U024BE7LH
            pagerduty_user_id: PXPGF42
        - name: "Bob [/x] \\e[31m"
      schedules:
        - name: primary
          timezone: America/New_York
          layers:
            - name: weekly
              users: [Alice Smith, "Bob [/x] \\e[31m"]
              rotation: weekly
              handoff: Monday 09:00
              start: 2026-01-05
            - name: office
              users: [Alice Smith]
              shift_length: 12h
              handoff: "2026-01-05 09:00"
              restrict: ["Mon-Fri 09:00-17:00", "Sat 22:00-02:00"]
    """


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), file="opsbook.yaml", env={})
    return [str(issue) for issue in caught.value.issues]


def with_layer(layer: str, *, timezone: str = "UTC", people: str = "[{name: alice}]") -> str:
    return (
        f"oncall:\n  people: {people}\n  schedules:\n    - name: s\n"
        f"      timezone: {timezone}\n      layers:\n        - {layer}\n"
    )


def test_a_good_section_loads_typed() -> None:
    config = parse_config(textwrap.dedent(GOOD), file="opsbook.yaml", env={})
    oncall = config.oncall
    [schedule] = oncall.schedules
    weekly, office = schedule.layers
    assert (str(weekly.length), weekly.length.days, str(weekly.handoff)) == (
        "weekly",
        7,
        "Monday 09:00",
    )
    assert weekly.start == dt.date(2026, 1, 5)
    assert (office.length.days, office.length.length) == (None, dt.timedelta(hours=12))
    assert office.handoff.at == dt.datetime(2026, 1, 5, 9)
    assert [sorted(w.days) for w in office.restrict] == [[0, 1, 2, 3, 4], [5]]
    assert office.restrict[1].end == dt.time(2)
    assert oncall.person("Bob [/x] \x1b[31m") is not None  # a name is data, kept as written
    alice = oncall.person("Alice Smith")
    assert alice is not None and alice.contacts.pagerduty_user_id == "PXPGF42"


@pytest.mark.parametrize(
    ("layer", "timezone", "said"),
    [
        (
            "{users: [alice], rotation: weekly}",
            "Europe/Berln",
            "opsbook.yaml:5:17: oncall.schedules[0].timezone: 'Europe/Berln' is not an IANA"
            " time zone (did you mean 'Europe/Berlin'?)",
        ),
        (
            "{users: [alice], rotation: weekly}",
            "'../../etc/passwd'",
            "opsbook.yaml:5:17: oncall.schedules[0].timezone: '../../etc/passwd' is not an IANA"
            " time zone (like Europe/Berlin)",
        ),
        (
            "{users: [alice], rotation: weekly, handoff: Funday 25:00}",
            "UTC",
            "opsbook.yaml:7:55: oncall.schedules[0].layers[0].handoff: 'Funday 25:00' is not a"
            " hand-off (use 'Monday 09:00', '09:00' or '2026-01-05 09:00')",
        ),
        (
            "{users: [alice], rotation: weekly, handoff: Monday 25:00}",
            "UTC",
            "opsbook.yaml:7:55: oncall.schedules[0].layers[0].handoff: '25:00' is not a time of"
            " day (00:00 to 23:59)",
        ),
        (
            "{users: [alice], rotation: daily, handoff: 17:00}",
            "UTC",
            "opsbook.yaml:7:54: oncall.schedules[0].layers[0].handoff: 17:00 unquoted is the"
            " number 1020 to YAML: write it in quotes, '17:00'",
        ),
        (
            "{users: [alice], rotation: every 99999999999y}",
            "UTC",
            "opsbook.yaml:7:38: oncall.schedules[0].layers[0].rotation: '99999999999y' is longer"
            " than 100y, the longest opsbook takes",
        ),
        (
            "{users: [alice], shift_length: 400d}",
            "UTC",
            "opsbook.yaml:7:42: oncall.schedules[0].layers[0].shift_length: '400d' is longer than"
            " a year, the longest shift opsbook takes",
        ),
        (
            "{users: [alice], shift_length: 5m}",
            "UTC",
            "opsbook.yaml:7:42: oncall.schedules[0].layers[0].shift_length: '5m' is too short: it"
            " must be at least 1h",
        ),
        (
            "{users: [alice], rotation: fortnightly}",
            "UTC",
            "opsbook.yaml:7:38: oncall.schedules[0].layers[0].rotation: 'fortnightly' is not a"
            " rotation (use daily, weekly, or every 12h / 2w)",
        ),
        (
            "{users: [alice], rotation: daily, handoff: Monday 09:00}",
            "UTC",
            "opsbook.yaml:7:11: oncall.schedules[0].layers[0]: handoff Monday 09:00 names a"
            " weekday, but daily shifts are not whole weeks (write the time alone, like '09:00')",
        ),
        (
            "{users: [alice], rotation: weekly, shift_length: 2w}",
            "UTC",
            "opsbook.yaml:7:11: oncall.schedules[0].layers[0]: rotation and shift_length both say"
            " how long a shift is: keep one",
        ),
        (
            "{users: [alice]}",
            "UTC",
            "opsbook.yaml:7:11: oncall.schedules[0].layers[0]: missing rotation (daily, weekly,"
            " every 12h) or shift_length",
        ),
        (
            "{users: [alice], rotation: weekly, restrict: [Someday 09:00-17:00]}",
            "UTC",
            "opsbook.yaml:7:57: oncall.schedules[0].layers[0].restrict[0]: 'Someday' names no"
            " days (use weekdays, weekends, daily, Mon-Fri)",
        ),
        (
            "{users: [alice], rotation: weekly, restrict: [weekdays 09:00-09:00]}",
            "UTC",
            "opsbook.yaml:7:57: oncall.schedules[0].layers[0].restrict[0]: 'weekdays 09:00-09:00'"
            " starts and ends at once (use 00:00-24:00 for whole days)",
        ),
        (
            "{users: [alicia], rotation: weekly}",
            "UTC",
            "opsbook.yaml:7:20: oncall.schedules[0].layers[0].users[0]: no person named 'alicia'"
            " (did you mean 'alice'?)",
        ),
        (
            "{users: ['$(rm -rf /); `id`'], rotation: weekly}",
            "UTC",
            "opsbook.yaml:7:20: oncall.schedules[0].layers[0].users[0]: no person named"
            " '$(rm -rf /); `id`'",
        ),
    ],
)
def test_bad_oncall_config_is_located(layer: str, timezone: str, said: str) -> None:
    assert problems(with_layer(layer, timezone=timezone)) == [said]


@pytest.mark.parametrize(
    ("people", "said"),
    [
        (
            '[{name: "a\\0b"}]',
            "opsbook.yaml:2:19: oncall.people[0].name: 'a\\x00b' holds a NUL character",
        ),
        (
            "[{name: alice}, {name: alice}]",
            "opsbook.yaml:2:34: oncall.people[1].name: duplicate name 'alice' (first used on"
            " line 2)",
        ),
        (
            "[{name: alice, contacts: {email: 'x; rm -rf /'}}]",
            "opsbook.yaml:2:44: oncall.people[0].contacts.email: 'x; rm -rf /' is not an email"
            " address (like alice@example.com)",
        ),
        (
            "[{name: alice, contacts: {slack_user_id: '[/x]'}}]",
            "opsbook.yaml:2:52: oncall.people[0].contacts.slack_user_id: '[/x]' is not a Slack"
            " user id (like U024BE7LH)",
        ),
        (
            "[{name: alice, contacts: {phone: 12345}}]",
            "opsbook.yaml:2:44: oncall.people[0].contacts.phone: expected text, got 12345",
        ),
        (
            "[{name: alice, pager: P1}]",
            "opsbook.yaml:2:26: oncall.people[0].pager: unknown key 'pager'",
        ),
        (
            "[{name: '" + "x" * 300 + "'}]",
            "opsbook.yaml:2:19: oncall.people[0].name: string should have at most 200 characters",
        ),
    ],
)
def test_bad_people_are_located(people: str, said: str) -> None:
    found = problems(with_layer("{users: [alice], rotation: weekly}", people=people))
    assert said in found


def test_an_ansi_escape_in_a_name_is_kept_as_data() -> None:
    name = '"\\e[2J\\e]0;owned\\a"'
    text = with_layer(f"{{users: [{name}], rotation: weekly}}", people=f"[{{name: {name}}}]")
    config = parse_config(text, file="opsbook.yaml", env={})
    assert config.oncall.people[0].name == "\x1b[2J\x1b]0;owned\x07"
