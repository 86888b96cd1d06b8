"""Incident command: severities, lifecycle, timeline, SLA clocks, post-mortems, action items."""
