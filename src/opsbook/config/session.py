"""`app.session`: the signed-in session opsbook presents to the app's own pages.

The seed's "Dashboard takes >5 seconds to load" is about the signed-in dashboard; without
a session, a Clerk app answers /dashboard with a redirect to /sign-in, and timing that
redirect says nothing of the dashboard. The value is a session cookie of a test account,
so it is a secret: written as `${VAR}` in opsbook.yaml, masked everywhere it could show.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import StringConstraints, field_validator

from opsbook.config.base import Model
from opsbook.config.secrets import Secret, is_set, private_channel

# RFC 6265 section 4.1.1: a cookie's name is a token, its value cookie-octets (no space,
# quote, comma, semicolon or backslash), so neither can end the Cookie header early or
# add another cookie, nor start a header of their own.
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{1,4096}")
CookieName = Annotated[str, StringConstraints(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")]


class AppSession(Model):
    """A cookie a signed-in browser sends (Clerk's is `__session`)."""

    cookie: CookieName = "__session"
    value: Secret

    @field_validator("value")
    @classmethod
    def _value(cls, value: Secret) -> Secret:
        # Empty: a ${VAR} left unset; the pages are opened signed out, saying so.
        if is_set(value) and not _COOKIE_VALUE.fullmatch(value.reveal()):
            # Never the value itself in the message: it is a credential.
            raise ValueError(
                "holds a character a cookie cannot carry (a space, quote, comma, semicolon,"
                " backslash or control character), or is over 4096 characters"
            )
        return value

    def headers(self, url: str, app_url: str) -> dict[str, str]:
        """The request header that presents the session to `url`; none when the value is
        unset or `url` is not a place to send it (`goes_to`)."""
        if not is_set(self.value) or not goes_to(url, app_url):
            return {}
        return {"Cookie": f"{self.cookie}={self.value.reveal()}"}


def goes_to(url: str, app_url: str) -> bool:
    """The session is the app's: only to app.url's own origin (scheme, host and port; a
    `--url` or the staging host is another site, which a test account's cookie must not
    reach), and only over https or to this machine, never in the clear over a network."""
    origin = _origin(url)
    return origin is not None and origin == _origin(app_url) and private_channel(url)


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port), or None for a URL with no origin to match (no host, a port
    out of range)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return (scheme, parts.hostname.lower(), port)
