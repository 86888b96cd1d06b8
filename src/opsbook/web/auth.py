"""Bearer tokens on the served app's protected routes (the Alertmanager receiver, /metrics)."""

from __future__ import annotations

import hmac

from opsbook.config.secrets import Secret


def bearer_matches(header: str, token: Secret | None) -> bool:
    """An Authorization header carrying the token. The scheme is case-insensitive (RFC 9110
    11.1: `bearer` and `BEARER` are Bearer); the token is compared in constant time."""
    scheme, _, credentials = header.partition(" ")
    if token is None or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.lstrip(" ").encode(), token.reveal().encode())
