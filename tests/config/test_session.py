"""`app.session`: the test account's session cookie opsbook presents to the app's pages.
Its value is a credential: read from the environment, masked in every printed form, and a
value a cookie cannot carry (a `;` that adds a cookie, a line break that adds a header) is
refused at its line without ever being shown."""

from __future__ import annotations

import json

import pytest

from opsbook.config import ConfigError, parse_config
from opsbook.config.secrets import collect_secrets
from opsbook.config.session import goes_to
from opsbook.config.unset import off_features

TOKEN = "sess_2b7Qx9-Lk.4~Zp"
APP = "http://127.0.0.1:9"


def config_with(value: str, cookie: str = "__session") -> str:
    return (
        "app:\n  url: http://127.0.0.1:9\n  session:\n"
        f"    cookie: {json.dumps(cookie)}\n    value: {json.dumps(value)}\n"
    )


def test_the_session_comes_from_the_environment_and_is_masked() -> None:
    config = parse_config(
        config_with("${APP_SESSION}"), file="opsbook.yaml", env={"APP_SESSION": TOKEN}
    )
    assert config.app.session is not None
    assert config.app.session.headers(APP, APP) == {"Cookie": f"__session={TOKEN}"}
    printed = config.model_dump_json() + repr(config) + str(config.model_dump())
    assert TOKEN not in printed
    assert TOKEN in collect_secrets(config)  # so every record and output masks it


def test_an_empty_session_opens_the_pages_signed_out() -> None:
    config = parse_config(config_with("${APP_SESSION:-}"), file="opsbook.yaml", env={})
    assert config.app.session is not None and config.app.session.headers(APP, APP) == {}


def test_a_session_left_unset_opens_the_pages_signed_out_and_says_so() -> None:
    """Like any secret a first run lacks: the one feature stays off, never the whole file
    (an on-call machine without the test cookie still runs `status` and `incident`)."""
    config = parse_config(config_with("${APP_SESSION}"), file="opsbook.yaml", env={})
    assert config.app.session is None
    [off] = off_features(config)
    assert off.sentence == (
        "App session (app.session): set APP_SESSION — the app's pages are opened signed out"
        " until it is set"
    )


@pytest.mark.parametrize(
    "value",
    [
        "a; admin=1",  # a second cookie
        "tok en",
        'q"uote',
        "back\\slash",
        "line\r\nX-Injected: 1",
        "nul\x00byte",
        "\x1b[31mred",
        "$(reboot)",  # a space-free shell text is a valid cookie octet run: see below
        "x" * 4097,
    ],
)
def test_a_value_a_cookie_cannot_carry_is_refused_unshown(value: str) -> None:
    env = {"APP_SESSION": value}
    if value == "$(reboot)":
        # Never shell text here: it goes as a header value, so it is accepted as data.
        config = parse_config(config_with("${APP_SESSION}"), file="opsbook.yaml", env=env)
        assert config.app.session is not None
        assert config.app.session.headers(APP, APP) == {"Cookie": "__session=$(reboot)"}
        return
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with("${APP_SESSION}"), file="opsbook.yaml", env=env)
    said = str(caught.value)
    assert "opsbook.yaml:5" in said and "app.session.value" in said
    assert "cookie cannot carry" in said
    assert value[:20] not in said


@pytest.mark.parametrize("cookie", ["a=b", "x;y", "[/x]", "sp ace", "", "\x1b"])
def test_a_cookie_name_that_is_not_a_token_is_refused(cookie: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with("abc", cookie=cookie), file="o.yaml", env={})
    assert "app.session.cookie" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "app_url", "sent"),
    [
        ("https://app.example.com/dashboard", "https://app.example.com", True),
        ("https://APP.example.com:443/x", "https://app.example.com/", True),
        ("http://127.0.0.1:8300/dashboard", "http://127.0.0.1:8300", True),
        ("http://localhost:8300/x", "http://localhost:8300", True),
        # Another site: a `deploy verify --url`, the staging host, a look-alike.
        ("https://staging.example.com/x", "https://app.example.com", False),
        ("https://app.example.com.evil.test/x", "https://app.example.com", False),
        ("https://app.example.com:8443/x", "https://app.example.com", False),
        ("http://app.example.com/x", "https://app.example.com", False),
        # The app's own origin, but in the clear over a network.
        ("http://app.example.com/x", "http://app.example.com", False),
        ("http://127.0.0.1:1/x", "http://127.0.0.1:9", False),
        ("http://127.0.0.1:99999999/x", "http://127.0.0.1:99999999", False),
    ],
)
def test_the_session_goes_only_to_the_apps_origin_and_never_in_the_clear(
    url: str, app_url: str, sent: bool
) -> None:
    assert goes_to(url, app_url) is sent
