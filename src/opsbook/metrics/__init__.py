"""opsbook's own figures for Prometheus: GET /metrics in `opsbook serve`."""
