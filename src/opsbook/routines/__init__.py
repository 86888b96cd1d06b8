"""Routine maintenance: runbooks run on a schedule by `opsbook serve`."""
