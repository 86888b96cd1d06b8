"""Flapping control: a check fails only after N failures in a row and recovers after M
successes in a row, so one dropped packet does not page anyone at 3 a.m."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Debounce:
    """One check's confirmed state and its run of failures or successes."""

    fail_after: int = 1
    recover_after: int = 1
    failing: bool = False
    failures: int = 0
    successes: int = 0

    def observe(self, ok: bool) -> bool:
        """Record one result; True when the confirmed state changed."""
        # Counters saturate at their threshold: a steady check then stops changing state,
        # which lets the store skip rewriting it on every run.
        if ok:
            self.successes, self.failures = min(self.successes + 1, self.recover_after), 0
            if self.failing and self.successes >= self.recover_after:
                self.failing = False
                return True
        else:
            self.failures, self.successes = min(self.failures + 1, self.fail_after), 0
            if not self.failing and self.failures >= self.fail_after:
                self.failing = True
                return True
        return False
