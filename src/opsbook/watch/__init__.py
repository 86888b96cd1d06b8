"""Watch: checks run on a schedule, their results turned into alerts and incidents.

`checks/` and `runner` probe (with `probe.ProbeContext`), `scheduler` runs them on their
intervals, `service` stores a batch of results; `rules` evaluates metric windows into
signals, `alerts` moves each alert through pending, firing and resolved, and `routing`
sends a firing alert to its incident. `alertmanager` feeds Prometheus' alerts into the same
lifecycle; `history` keeps the results downsampled.
"""
