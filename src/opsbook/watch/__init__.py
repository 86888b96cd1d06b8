"""Watch: checks, flapping control, (next) scheduler, alert rules and auto-incidents."""
