"""The three webhook signature schemes the seed's app guards its endpoints with.

- Clerk delivers through Svix: headers svix-id, svix-timestamp, svix-signature
  (`v1,<base64 HMAC-SHA256>` entries, space-separated), signed content
  `{id}.{timestamp}.{body}`, key = base64-decoded part of the `whsec_...` secret.
- Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256>[,v1=...]` over `{t}.{body}`,
  key = the whole `whsec_...` secret as bytes.
- Vapi: the server URL secret sent verbatim in the `X-Vapi-Secret` header.
Svix and Stripe both reject timestamps more than five minutes from now (replay guard).
Signatures are compared as bytes: compare_digest refuses non-ASCII str, and a header may
hold any Latin-1 text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

TOLERANCE_SECONDS = 300


def _svix_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def svix_sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_svix_key(secret), signed, hashlib.sha256).digest()
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(timestamp),
        "svix-signature": "v1," + base64.b64encode(digest).decode(),
    }


def svix_verify(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> bool:
    msg_id = headers.get("svix-id")
    timestamp = headers.get("svix-timestamp")
    signatures = headers.get("svix-signature")
    if not (msg_id and timestamp and signatures):
        return False
    ts = _timestamp(timestamp)
    try:
        key = _svix_key(secret)
    except ValueError:
        return False
    if ts is None or abs(now - ts) > TOLERANCE_SECONDS:
        return False
    signed = f"{msg_id}.{ts}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return True
    return False


def _timestamp(text: str) -> int | None:
    """Unix seconds as a header carries them, or None. Bounded to 12 digits: a 4,000-digit
    number would parse, then overflow when compared with the clock's float."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None


def stripe_sign(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={timestamp},v1={digest}"}


def stripe_verify(secret: str, header: str | None, body: bytes, now: float) -> bool:
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamp = _timestamp(value)
            if timestamp is None:
                return False
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates)


def vapi_verify(secret: str, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(header.encode(), secret.encode())
