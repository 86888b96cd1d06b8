"""`app.session`: the test account's session cookie opsbook presents to the app's pages.
Its value is a credential: read from the environment, masked in every printed form, and a
value a cookie cannot carry (a `;` that adds a cookie, a line break that adds a header) is
refused at its line without ever being shown."""

from __future__ import annotations

import json

import pytest

from opsbook.config import ConfigError, parse_config
from opsbook.config.secrets import collect_secrets

TOKEN = "sess_2b7Qx9-Lk.4~Zp"


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
    assert config.app.session.headers() == {"Cookie": f"__session={TOKEN}"}
    printed = config.model_dump_json() + repr(config) + str(config.model_dump())
    assert TOKEN not in printed
    assert TOKEN in collect_secrets(config)  # so every record and output masks it


def test_an_empty_session_opens_the_pages_signed_out() -> None:
    config = parse_config(config_with("${APP_SESSION:-}"), file="opsbook.yaml", env={})
    assert config.app.session is not None and config.app.session.headers() == {}


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
        assert config.app.session.headers() == {"Cookie": "__session=$(reboot)"}
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
