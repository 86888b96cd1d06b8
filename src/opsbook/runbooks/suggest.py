"""Rank runbooks for an incident by its symptoms, component and severity."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

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


def suggest(
    runbooks: Sequence[Runbook],
    *,
    title: str,
    symptoms: Sequence[str],
    component: str | None,
    severity: str,
) -> list[Suggestion]:
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
