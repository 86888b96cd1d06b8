"""Escalation tests page through the notify fakes: the same desk, Slack and PagerDuty."""

from tests.notify.conftest import desk_for, pagerduty, slack  # noqa: F401 - fixtures
