"""Rank runbooks for an incident by its symptoms, component and severity.

`suggest_for` is the one way to ask, for the alert path and `opsbook runbook suggest`
alike. The parsed runbooks are kept per file and parsed again only when the file changes:
an alert storm opening incidents one after another must not read and validate every
runbook for each of them. Loading a runbook only parses its expressions (see
`loader`), so a hostile runbook costs its parse and nothing more.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from opsbook.config import Config
from opsbook.registry import default_registry
from opsbook.runbooks import loader
from opsbook.runbooks.actions import Registry
from opsbook.runbooks.model import Runbook

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {
    "the",
    "a",
    "an",
    "is",
    "are",
    "of",
    "to",
    "in",
    "on",
    "and",
    "or",
    "not",
    "for",
    "with",
    "users",
    "user",
    "s",
}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


@dataclass(frozen=True)
class Suggestion:
    runbook: str
    title: str
    score: float
    reasons: list[str]


def suggest_for(
    config: Config,
    *,
    title: str,
    symptoms: Sequence[str],
    component: str | None,
    severity: str,
) -> list[Suggestion]:
    """The runbooks that match an incident, best first (empty when none matches).

    It reads runbook files (those changed since the last call): call it outside any
    store transaction, never while holding the store's write lock."""
    return rank(
        RUNBOOKS.runbooks(config),
        title=title,
        symptoms=symptoms,
        component=component,
        severity=severity,
    )


def rank(
    runbooks: Sequence[Runbook],
    *,
    title: str,
    symptoms: Sequence[str],
    component: str | None,
    severity: str,
) -> list[Suggestion]:
    """Score each runbook: shared symptom words, then its component, then its severity."""
    said = _words(" ".join([title, *symptoms]))
    ranked = []
    for runbook in runbooks:
        reasons: list[str] = []
        score = 0.0
        known = _words(" ".join([runbook.title, *runbook.symptoms]))
        shared = sorted(said & known)
        if shared:
            score += 10.0 * len(shared) / max(len(said), 1)
            reasons.append("symptoms: " + ", ".join(shared))
        if component and component in runbook.components:
            score += 3
            reasons.append(f"component {component}")
        if severity in runbook.severity:
            score += 1
            reasons.append(f"severity {severity}")
        if shared or (component and component in runbook.components):
            ranked.append(Suggestion(runbook.name, runbook.title, round(score, 2), reasons))
    return sorted(ranked, key=lambda s: (-s.score, s.runbook))


# --- parsed runbooks, per file ---------------------------------------------------------------

# What says a file changed: its inode (an editor or `git checkout` that writes a new file and
# renames it over the old one), its size and its change times in nanoseconds. An edit in
# place that keeps the size within one tick of the file system's clock (a few milliseconds
# on Linux, whose file times come from a coarse clock) goes unseen until the next change;
# make and git take the same risk.
_Stamp = tuple[int, int, int, int]


def _stamp(path: Path) -> _Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class _Parsed:
    stamp: _Stamp
    runbook: Runbook | None  # None: the file does not validate (and will not until it changes)


class RunbookCache:
    """The runbooks `loader.discover` finds, each parsed once per version of its file.

    Thread-safe: serve suggests from several worker threads (check results, rule
    evaluation, the Alertmanager receiver). Bounded by the files discovered: an entry whose
    file is no longer found is dropped on the next call.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parsed: dict[Path, _Parsed] = {}
        self._registry: Registry | None = None

    def runbooks(self, config: Config) -> list[Runbook]:
        """Every runbook that validates, a team's overriding a built-in of the same name."""
        # Discovery lists folders each time, so a runbook added since the last call counts.
        sources = loader.discover(config)
        with self._lock:
            if self._registry is None:
                self._registry = default_registry()
            found = []
            for source in sources.values():
                runbook = self._load(source.path, self._registry)
                if runbook is not None:
                    found.append(runbook)
            seen = {source.path for source in sources.values()}
            for gone in [path for path in self._parsed if path not in seen]:
                del self._parsed[gone]
            return found

    def _load(self, path: Path, registry: Registry) -> Runbook | None:
        # Stamped before reading: a change racing the read leaves a stamp that no longer
        # matches, so the next call parses again (never the reverse, a stale runbook kept).
        stamp = _stamp(path)
        cached = self._parsed.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached.runbook
        try:
            runbook: Runbook | None = loader.load_runbook(path, registry=registry)
        except loader.RunbookError:
            runbook = None  # `opsbook runbook list` says why; a suggestion just skips it
        if stamp is None:
            self._parsed.pop(path, None)
        else:
            self._parsed[path] = _Parsed(stamp, runbook)
        return runbook


RUNBOOKS = RunbookCache()
