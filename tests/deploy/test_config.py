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
