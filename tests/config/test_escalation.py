"""The `escalation:` section: every reference checked against the file (schedules,
people, policies, channels), each error at the very line and field; sizes bounded."""

from __future__ import annotations

import textwrap

import pytest

from opsbook.config import parse_config
from opsbook.config.errors import ConfigError

BASE = """\
notify:
  channels:
    - {name: pagerduty, kind: pagerduty, routing_key: x}
    - {name: slack, kind: slack, webhook_url: "https://hooks.example.com/x"}
oncall:
  people: [{name: Alice}, {name: CTO}]
  schedules:
    - {name: primary, timezone: UTC, layers: [{users: [Alice], rotation: weekly}]}
"""


def load(escalation: str) -> object:
    return parse_config(BASE + textwrap.dedent(escalation), file="opsbook.yaml", env={})


def errors(escalation: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(escalation)
    return [f"{i.line}:{i.path}: {i.message}" for i in caught.value.issues]


def test_a_policy_with_the_seed_defaults() -> None:
    config = load(
        """\
        escalation:
          policies:
            - name: default
              levels:
                - targets: [{schedule: primary}]
                - targets: [{person: CTO}]
        """
    )
    escalation = config.escalation  # type: ignore[attr-defined]
    assert escalation.severities == ["P0", "P1"]
    assert escalation.renotify_every.total_seconds() == 30 * 60
    assert escalation.policies[0].levels[0].delay.total_seconds() == 5 * 60
    assert escalation.policy_for(severity="P0", component=None).name == "default"
    assert escalation.policy_for(severity="P2", component=None) is None


def test_unknown_names_are_errors_at_their_place() -> None:
    found = errors(
        """\
        escalation:
          default: dflt
          components: {payments: nope}
          policies:
            - name: default
              channels: [pagerduty, slak]
              levels:
                - targets: [{schedule: primry}]
                - targets: [{person: "Alice; rm -rf / $(x) [/x]"}]
        """
    )
    assert found == [
        "10:escalation.default: no policy named 'dflt' (did you mean 'default'?)",
        "11:escalation.components.payments: no policy named 'nope'",
        "14:escalation.policies[0].channels[0]: 'pagerduty' is a pagerduty channel: PagerDuty"
        " pages people by its own escalation policy from the incident's trigger; page through"
        " slack, email or webhook channels here",
        "14:escalation.policies[0].channels[1]: no channel named 'slak' (did you mean 'slack'?)",
        "16:escalation.policies[0].levels[0].targets[0].schedule:"
        " no schedule named 'primry' (did you mean 'primary'?)",
        "17:escalation.policies[0].levels[1].targets[0].person:"
        " no person named 'Alice; rm -rf / $(x) [/x]'",
    ]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("repeat", "99999999999999999999", "at most 10"),
        ("repeat", "-1", "at least 0"),
        ("delay", "5y", "longer than 1d"),
        ("delay", "10s", "shorter than 1m"),
        ("delay", "300", "has no unit"),
    ],
)
def test_huge_or_tiny_numbers_are_refused(field: str, value: str, says: str) -> None:
    level = f"{{targets: [{{person: CTO}}], delay: {value}}}" if field == "delay" else ""
    repeat = f"repeat: {value}" if field == "repeat" else "repeat: 0"
    found = errors(
        f"""\
        escalation:
          policies:
            - name: default
              {repeat}
              levels: [{level or "{targets: [{person: CTO}]}"}]
        """
    )
    assert len(found) == 1 and says in found[0], found


def test_a_target_names_one_thing_and_levels_are_bounded() -> None:
    [both] = errors(
        """\
        escalation:
          policies:
            - name: default
              levels: [{targets: [{schedule: primary, person: CTO}]}]
        """
    )
    assert "give one of schedule or person" in both
    many = ", ".join(["{targets: [{person: CTO}]}"] * 21)
    [long] = errors(f"escalation:\n  policies: [{{name: x, levels: [{many}]}}]\n")
    assert "at most 20" in long


def test_two_policies_of_one_name_and_bounded_waits() -> None:
    found = errors(
        """\
        escalation:
          renotify_every: 2d
          rate_limit: 2h
          policies:
            - {name: default, levels: [{targets: [{person: CTO}]}]}
            - {name: default, levels: [{targets: [{person: CTO}]}]}
        """
    )
    assert any("renotify_every: 2d is longer than 1d" in f for f in found)
    assert any("rate_limit: 2h is longer than 1h" in f for f in found)


def test_a_paged_persons_address_must_be_one_plain_address() -> None:
    text = BASE.replace(
        "{name: Alice}", '{name: Alice, contacts: {email: "a,bcc@evil.example.com"}}'
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(
            text + "escalation:\n  policies: [{name: d, levels: [{targets: [{person: Alice}]}]}]\n",
            file="opsbook.yaml",
            env={},
        )
    [issue] = caught.value.issues
    assert issue.path == "oncall.people[0].contacts.email"
    assert "cannot be paged by email" in issue.message


def test_the_voiceaitraining_profile_pages_on_call_then_the_devops_lead_then_the_cto() -> None:
    from opsbook.config.profiles import profile_text
    from opsbook.oncall.escalation import describe_policy

    config = parse_config(profile_text("voiceaitraining"), file="opsbook.yaml", env={})
    policy = config.escalation.policy_for(severity="P1", component=None)
    assert policy is not None
    assert describe_policy(policy) == [
        "level 1: page on call in primary; unacknowledged after 5 min, then the next level",
        "level 2: page DevOps Lead; unacknowledged after 5 min, then the next level",
        "level 3: page CTO; unacknowledged after 5 min, then repeat",
        "the whole policy runs 3 times in all",
    ]
    assert config.oncall.person("CTO").contacts.email == "cto@voiceaitraining.com"  # type: ignore[union-attr]
    assert config.oncall.person("On-call engineer").contacts.email == (  # type: ignore[union-attr]
        "oncall@voiceaitraining.com"
    )
