"""Starter configs written by `opsbook init`, one YAML file per profile, and the
.env.example that goes with each."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opsbook.config.source import Reference, child, format_path, load_yaml, value_at

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


_HEADER = """\
# The variables {config} reads, with where to find each value.
# Copy this file to .env beside {config} and fill in what you have: opsbook reads
# .env as plain NAME=value lines (nothing in it is run or expanded), and a variable
# set in the environment wins over .env. Keep .env out of version control.
# Until a secret is set, the channel or check that needs it stays off:
# `opsbook config check` lists them.
"""


def env_example(text: str, *, config_name: str = "opsbook.yaml") -> str:
    """A commented .env.example for a config: every `${VAR}` it references, in the order
    written, with its description from the config's `env:` map and where it is used.
    Variables with a default are commented out, showing the default."""
    doc = load_yaml(text, file=config_name, env={})
    data = doc.data if isinstance(doc.data, dict) else {}
    described = data.get("env") if isinstance(data.get("env"), dict) else {}
    used: dict[str, list[Reference]] = {}
    for ref in doc.references:
        used.setdefault(ref.name, []).append(ref)
    blocks = [_HEADER.format(config=config_name)]
    for name, refs in used.items():
        places = ", ".join(dict.fromkeys(_place(data, r.path) for r in refs))
        blocks.append(_entry(name, refs, str((described or {}).get(name) or ""), places))
    return "\n".join(blocks)


def _place(data: dict[str, Any], path: tuple[str | int, ...]) -> str:
    """`checks[3].url` as a person names it: the check webhook-vapi."""
    for section, word in ((("checks",), "check"), (("notify", "channels"), "channel")):
        size = len(section)
        if path[:size] == section and len(path) > size and isinstance(path[size], int):
            name = child(value_at(data, path[: size + 1]), "name")
            if isinstance(name, str):
                return f"{word} {name}"
    return format_path(path)


def _entry(name: str, refs: list[Reference], description: str, places: str) -> str:
    # textwrap folds every line break into a space: a description becomes comment lines
    # only, and cannot set a variable, whatever it holds.
    lines = textwrap.wrap(description or "(no description in the config's env: map)", 86)
    lines.append(f"Used by: {places}")
    comment = "\n".join(f"# {line}" for line in lines)
    defaults = [r.default for r in refs if r.default is not None]
    if len(defaults) == len(refs):
        return f"{comment}\n# {name}={_quoted(defaults[0])}\n"
    return f"{comment}\n{name}=\n"


def _quoted(value: str) -> str:
    """A default as a .env value that reads back as itself."""
    if re.fullmatch(r"[A-Za-z0-9_./:@%+,=-]*", value):
        return value
    if "'" not in value:
        return "'" + value + "'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
