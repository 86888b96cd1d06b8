"""The `status:` section: components made of checks that exist, located errors otherwise,
and the voiceaitraining profile's five public components."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsbook.config.errors import ConfigError
from opsbook.config.loader import parse_config

PROFILE = Path(__file__).parents[2] / "src/opsbook/config/profiles/voiceaitraining.yaml"


def test_the_profile_maps_the_seed_components_to_its_checks() -> None:
    config = parse_config(PROFILE.read_text(), file="voiceaitraining.yaml", env={})
    names = [c.name for c in config.status.components]
    assert names == ["Web app", "Database", "Authentication", "Voice calls", "Email"]
    assert config.status.component("database") is not None
    assert "health" in config.status.components[0].checks


def test_an_unknown_check_is_a_located_error() -> None:
    text = (
        "checks:\n  - {name: health, kind: command, command: 'true'}\n"
        "status:\n  components:\n    - name: Web app\n      checks: [health, helth2]\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file="opsbook.yaml", env={})
    assert "opsbook.yaml:6:" in str(caught.value)
    assert "status.components[0].checks[1]: no check named 'helth2'" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("{time_zone: Mars/Olympus}", "not an IANA time zone"),
        ("{url: 'javascript:alert(1)'}", "not a page URL"),
        ('{components: [{name: "a\\x1b[2Jb"}]}', "status.components[0].name"),
        ("{components: [{name: A}, {name: a}]}", "duplicate name"),
    ],
)
def test_bad_status_sections_are_refused(status: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"status: {status}\n", file="opsbook.yaml", env={})
    assert words in str(caught.value)
