"""The README's configuration example is a real, valid opsbook.yaml."""

from __future__ import annotations

import re
from pathlib import Path

from opsbook.config import load_config

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_config_example_loads(tmp_path: Path) -> None:
    text = README.read_text()
    section = text[text.index("## Configuration") :]
    example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    path = tmp_path / "opsbook.yaml"
    path.write_text(example.group(1))
    config = load_config(
        path,
        env={
            "APP_URL": "https://app.example",
            "DATABASE_URL": "postgresql://app:pw@db.example/app",
            "SLACK_INCIDENTS_WEBHOOK": "https://hooks.slack.example/T/B/X",
        },
    )
    assert config.alerts.grouping is not None and config.alerts.grouping.max_incidents == 3
    assert [t.every.total_seconds() for t in config.watch.downsample] == [300, 3600]
    assert config.checks[0].name == "health"
