"""Who may press opsbook's buttons from afar: the request signatures of PagerDuty webhooks
(v3) and Slack interactivity, checked against every configured secret.

Each check answers with the secret that matched (its channels' names go on the timeline,
so an acknowledge is not echoed back where it came from) or raises SignatureError in
words a sender's operator can act on. Digests are compared with `hmac.compare_digest`:
how long a comparison takes says nothing about how much of a guess was right.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

# Slack's rule: refuse a request whose timestamp is more than five minutes off ("Verifying
# requests from Slack"), so a captured request cannot be replayed later.
SLACK_TOLERANCE = dt.timedelta(minutes=5)
_MAX_SIGNATURES = 10  # PagerDuty sends one per active secret: two during a rotation


class SignatureError(ValueError):
    """The request is not signed by a configured secret; nothing was done."""


@dataclass(frozen=True)
class Signer:
    """One configured secret and the channels that carry it."""

    secret: str
    channels: tuple[str, ...]


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _matching(signers: Sequence[Signer], message: bytes, offered: Sequence[str]) -> Signer:
    for signer in signers:
        expected = _hex(signer.secret, message)
        # Every offered signature is compared, matched or not: no early exit to time.
        if any([hmac.compare_digest(expected, candidate) for candidate in offered]):
            return signer
    raise SignatureError("the signature does not match the configured secret")


def verify_pagerduty(header: str | None, body: bytes, signers: Sequence[Signer]) -> Signer:
    """`X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`: HMAC-SHA256 of the raw body with the
    subscription's secret; any one matching is enough (several during a secret rotation)."""
    if not header:
        raise SignatureError("no X-PagerDuty-Signature header")
    offered = [
        part.strip()[3:]
        for part in header.split(",")[:_MAX_SIGNATURES]
        if part.strip().startswith("v1=")
    ]
    if not offered:
        raise SignatureError("X-PagerDuty-Signature holds no v1= signature")
    return _matching(signers, body, [_ascii(sig) for sig in offered])


def verify_slack(
    timestamp: str | None,
    header: str | None,
    body: bytes,
    signers: Sequence[Signer],
    *,
    now: dt.datetime,
) -> Signer:
    """`X-Slack-Signature: v0=<hex>`: HMAC-SHA256 over `v0:{timestamp}:{raw body}` with the
    app's signing secret; a timestamp more than five minutes from `now` is refused."""
    if not timestamp or not header:
        raise SignatureError("no X-Slack-Request-Timestamp or X-Slack-Signature header")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 11):
        raise SignatureError("X-Slack-Request-Timestamp is not unix seconds")
    # Eleven digits reach the year 5138: far off, and still a datetime.
    sent = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    if abs(now - sent) > SLACK_TOLERANCE:
        raise SignatureError(
            f"X-Slack-Request-Timestamp {timestamp} is more than 5 minutes from now"
            " (a replayed or delayed request)"
        )
    if not header.startswith("v0="):
        raise SignatureError("X-Slack-Signature is not a v0= signature")
    message = b"v0:" + timestamp.encode() + b":" + body
    return _matching(signers, message, [_ascii(header[3:])])


def _ascii(signature: str) -> str:
    """compare_digest takes str only when it is ASCII: anything else cannot match anyway."""
    return signature if signature.isascii() else ""
