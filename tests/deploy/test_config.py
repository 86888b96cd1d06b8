"""`app.smoke_paths` and `deploy:` in opsbook.yaml: bare paths still load, expectations
are validated and located."""

from __future__ import annotations

import pytest

from opsbook.config import ConfigError, parse_config


def test_bare_smoke_paths_still_load_as_pages_answering_200() -> None:
    config = parse_config("app:\n  smoke_paths: [/sign-in, /dashboard]\n", file="o.yaml", env={})
    assert [(p.path, p.statuses, p.redirect_to) for p in config.app.smoke_paths] == [
        ("/sign-in", [200], None),
        ("/dashboard", [200], None),
    ]


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ("{path: /d, redirect_to: /sign-in}", "redirect_to needs a redirect status"),
        ("{path: /d, status: 999}", "smoke_paths[0].status"),
        ("dashboard", "'dashboard' is not a path on the app"),
        ("'/a b'", "'/a b' is not a path on the app"),
        ("{path: /d, follow: true}", "follow"),
    ],
)
def test_bad_smoke_paths_are_refused_where_they_stand(entry: str, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"app:\n  smoke_paths:\n    - {entry}\n", file="o.yaml", env={})
    [issue] = caught.value.issues
    assert str(issue).startswith("o.yaml:3:")
    assert said in str(issue)


def test_deploy_watch_is_at_most_a_day() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("deploy:\n  watch: 2d\n", file="o.yaml", env={})
    assert "longer than 1d" in str(caught.value.issues[0])


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ("tests: {}", "deploy.checklist.tests: give command (an argument list) or status_url"),
        ("tests: {command: [make], status_url: 'http://ci'}", "one of them"),
        ("tests: {status_url: 'ftp://ci/$(id)'}", "'ftp://ci/$(id)' is not an http(s) URL"),
        ("tests: {status_url: 'http://ci/a b'}", "is not an http(s) URL"),
        ('tests: {command: ["make\\0; rm"]}', "tests.command[0]: 'make\\x00; rm' holds a NUL"),
        ("tests: {command: []}", "tests.command"),
        ("tests: {command: [make], token: t0k3n}", "token goes with status_url"),
        ("tests: {status_url: 'http://ci.example/s', token: t0k3n}", "over https only"),
        ("tests: {command: [make], timeout: 7h}", "tests.timeout: 7h is longer than 6h"),
        ("tests: {command: [make], timeout: 0s}", "tests.timeout"),
        ("tests: {command: [make], shell: true}", "shell"),
        ("migrations: ''", "deploy.checklist.migrations"),
    ],
)
def test_bad_checklist_settings_are_refused_naming_the_field(entry: str, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"deploy:\n  checklist:\n    {entry}\n", file="o.yaml", env={})
    [issue] = caught.value.issues
    assert str(issue).startswith("o.yaml:3:") and said in str(issue), str(issue)


def test_checklist_timeouts_default_by_the_way_chosen() -> None:
    command = parse_config(
        "deploy:\n  checklist:\n    tests: {command: [make, test]}\n", file="o.yaml", env={}
    )
    status = parse_config(
        "deploy:\n  checklist:\n    tests: {status_url: 'https://ci/{commit}'}\n",
        file="o.yaml",
        env={},
    )
    assert command.deploy.checklist.tests is not None and status.deploy.checklist.tests
    assert command.deploy.checklist.tests.limit.total_seconds() == 600
    assert status.deploy.checklist.tests.limit.total_seconds() == 10
