"""Which entries of a backup's archive a restore runs in which pg_restore run, read from
`pg_restore --list`'s lines: an entry's kind follows its id and two OIDs, and a name
comes only after it, so no name can move an entry into another run.

Post-data of a split restore (see split.py) goes in three stages: everything but the
foreign keys, materialized views' data, comments, security labels and event triggers;
then the foreign keys beside the refreshes; then the rest. A restore that is not split
creates its event triggers (and their comments) in a last run of their own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# An entry's kind follows its id and two OIDs; a name comes only after it.
_LATER = re.compile(r"(\d+); \d+ \d+ (FK CONSTRAINT|MATERIALIZED VIEW DATA) ")
_TRIGGERS = re.compile(r"(\d+); \d+ \d+ (EVENT TRIGGER|COMMENT - EVENT TRIGGER) ")
# A comment or label may be on a foreign key: it waits for the keys (pg_restore puts them
# before the event triggers in that last run, as it always does).
_LAST = re.compile(r"(\d+); \d+ \d+ (EVENT TRIGGER|COMMENT|SECURITY LABEL) ")


@dataclass(frozen=True)
class Stages:
    """The post-data entries by stage (see the module's docstring): `first` is every entry
    id but those of the other two."""

    later: list[int]  # foreign keys and materialized views' data, side by side
    last: list[int]  # comments, security labels and event triggers

    def first(self, toc: Sequence[str]) -> list[int]:
        held = {*self.later, *self.last}
        return [i for i in ids(toc) if i not in held]


def post_data_stages(toc: Sequence[str]) -> Stages:
    """Which entries of `toc` (`pg_restore --list`'s lines) wait for the first stage."""
    later = [int(m.group(1)) for line in toc if (m := _LATER.match(line))]
    last = [int(m.group(1)) for line in toc if (m := _LAST.match(line))]
    return Stages(later, last)


def event_triggers(toc: Sequence[str]) -> list[int]:
    """The event triggers of `toc` and their comments."""
    return [int(m.group(1)) for line in toc if (m := _TRIGGERS.match(line))]


def whole_then(triggers: list[int], toc: Sequence[str], folder: Path) -> list[list[str]]:
    """One pg_restore's options per run of a restore that is not split: the whole archive
    in one; with event triggers, everything else first and then them, so none fires on
    the restore's own statements (pg_restore 15 creates them before it refreshes
    materialized views)."""
    if not triggers:
        return [[]]
    runs = []
    for name, listed_ids in (("all-but-triggers", [i for i in ids(toc) if i not in triggers]),
                             ("triggers", triggers)):  # fmt: skip
        listed = folder.parent / f"{name}.list"
        listed.write_text("".join(f"{i}\n" for i in listed_ids))
        runs.append([f"--use-list={listed}"])
    return runs


def ids(toc: Sequence[str]) -> list[int]:
    return [int(line.split(";", 1)[0]) for line in toc]


def later_runs(toc: Sequence[str], later: Sequence[int]) -> list[tuple[str, list[int]]]:
    """The second stage's runs: the foreign keys, and the materialized views' data."""
    kinds = {int(m.group(1)): m.group(2) for line in toc if (m := _LATER.match(line))}
    keys = [i for i in later if kinds.get(i) == "FK CONSTRAINT"]
    views = [i for i in later if kinds.get(i) != "FK CONSTRAINT"]
    named = [
        ("the foreign keys (post-data)", keys),
        ("the materialized views' data (post-data)", views),
    ]
    return [(name, ids) for name, ids in named if ids]
