"""Starter configs written by `opsbook init`, one YAML file per profile."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

PROFILES_DIR = Path(__file__).parent / "profiles"


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def profile_text(name: str) -> str:
    path = PROFILES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(name)
    return path.read_text()


def fill_variables(text: str, values: Mapping[str, str]) -> str:
    """Write known values in place of their `${VAR}` / `${VAR:-default}` references,
    leaving every other reference for the environment to fill at load time."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        return values[name] if name in values else match.group(0)

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}", sub, text)
