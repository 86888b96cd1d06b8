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
# Where a name written in CamelCase (Alertmanager's `PostgresTooManyConnections`,
# `VercelFunctionOOMKilled`) splits into words.
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _wordlist(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOP = _wordlist(
    "the a an is are be been was were of to in on at by from into and or not no for with"
    " as it its this that than then over under above below within after before right"
    " more less too very can cannot t s users user we our you your some all any"
    " started start starting still now out up"
)
# Words nearly every alert or check says ("api check failing: error rate high"): they tell
# one runbook from another no better than "the" does. Once they matched on their own and
# every "... failing" alert got the authentication runbook.
_GENERIC = _wordlist(
    "fail fails failed failing failure error errors errored erroring down check checks"
    " checking alert alerts alerting firing fired high higher low lower slow slower issue"
    " issues problem problems incident incidents outage outages degraded unhealthy broken"
    " warning warn critical crit major minor status state p0 p1 p2 p3 api app service"
    " services server http https rate rates elevated increased spike spiking limit"
    " threshold exceeded reported reporting showing shows returning returned answer"
    " answers ok bad"
)

COMPONENT = 6.0  # the incident's component is one the runbook declares
SYMPTOM = 2.0  # per word shared with the runbook's `symptoms:`
TITLE = 1.0  # per word shared with its title only
SEVERITY = 1.0  # the runbook is for this severity: a tie-breaker, never a match
# Word evidence that suggests a runbook without its component: at least two words, one
# of them from its symptoms. One word alone ("webhook") is a coincidence.
ENOUGH = 3.0


def _stem(word: str) -> str:
    """`connections` and `connection` are one word, `queries` and `query` too; `status`
    and `access` stay whole."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _words(text: str) -> set[str]:
    """The words of `text` that can tell runbooks apart: no stop words, no generic ones."""
    found = _WORD.findall(_CAMEL.sub(" ", text).lower())
    return {
        _stem(w)
        for w in found
        if len(w) > 1 and w not in _STOP and w not in _GENERIC and _stem(w) not in _GENERIC
    }


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
    """The runbooks with real evidence for this incident, best first.

    Evidence is the incident's component among the runbook's, and words its title and
    symptoms share with the runbook's `symptoms:` (most) and title. A runbook for another
    component needs more words; one that only shares a word or two, or only a generic
    word, is not a match at all. Severity only orders runbooks that matched by words."""
    said = _words(" ".join([title, *symptoms]))
    wanted = component.casefold() if component else None
    ranked = []
    for runbook in runbooks:
        found = _evidence(runbook, said, wanted, severity)
        if found is not None:
            score, reasons = found
            ranked.append(Suggestion(runbook.name, runbook.title, round(score, 2), reasons))
    return sorted(ranked, key=lambda s: (-s.score, s.runbook))


def _evidence(
    runbook: Runbook, said: set[str], component: str | None, severity: str
) -> tuple[float, list[str]] | None:
    """(score, reasons) when `runbook` matches, None when the evidence is too weak."""
    symptom_words = _words(" ".join(runbook.symptoms))
    by_symptom = sorted(said & symptom_words)
    by_title = sorted((said & _words(runbook.title)) - symptom_words)
    words = SYMPTOM * len(by_symptom) + TITLE * len(by_title)
    declared = {c.casefold() for c in runbook.components}
    ours = component is not None and component in declared
    # Another component's runbook: its words must say more than ENOUGH on their own.
    elsewhere = component is not None and bool(declared) and not ours
    if ours:
        # By component alone, only a runbook written for incidents (one that says its
        # symptoms); a procedure for the component (migrations, archival) needs a word.
        if not (runbook.symptoms or words):
            return None
    elif words < ENOUGH or (elsewhere and words <= ENOUGH):
        return None
    reasons = []
    if ours:
        reasons.append(f"component {component}")
    if by_symptom:
        reasons.append(_quoted("symptom", _phrases(runbook.symptoms, said)))
    if by_title:
        reasons.append(_quoted("title", [runbook.title]))
    score = words + (COMPONENT if ours else 0.0)
    # Between runbooks matched by their component alone, severity would decide a pick
    # nothing else supports: it orders only runbooks whose words matched too.
    if words and severity in runbook.severity:
        score += SEVERITY
        reasons.append(f"severity {severity}")
    return score, reasons


def _phrases(symptoms: Sequence[str], said: set[str]) -> list[str]:
    """The runbook's own symptom lines that share a word with the incident: a person reads
    "too many connections", not the stems that matched."""
    return [symptom for symptom in symptoms if _words(symptom) & said]


def _quoted(what: str, phrases: Sequence[str]) -> str:
    """`symptom 'too many connections'`, or `symptoms 'a', 'b'`: one short line."""
    plural = "s" if len(phrases) > 1 else ""
    return f"{what}{plural} " + ", ".join(f"'{phrase}'" for phrase in phrases)


def first_pick(ranked: Sequence[Suggestion]) -> Suggestion | None:
    """The runbook to put on an incident's timeline: the best, if it beats the next one.
    A tie (an `app` alert matching four `app` runbooks by component alone) is no pick:
    better none than a wrong one."""
    if not ranked or (len(ranked) > 1 and ranked[1].score >= ranked[0].score):
        return None
    return ranked[0]


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
