"""Runbooks: the seed's procedures as logged, dry-runnable, resumable steps."""
