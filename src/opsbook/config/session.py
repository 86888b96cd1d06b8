"""`app.session`: the signed-in session opsbook presents to the app's own pages.

The seed's "Dashboard takes >5 seconds to load" is about the signed-in dashboard; without
a session, a Clerk app answers /dashboard with a redirect to /sign-in, and timing that
redirect says nothing of the dashboard. The value is a session cookie of a test account,
so it is a secret: written as `${VAR}` in opsbook.yaml, masked everywhere it could show.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints, field_validator

from opsbook.config.base import Model
from opsbook.config.secrets import Secret, is_set

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

    def headers(self) -> dict[str, str]:
        """The request header that presents the session; none when the value is unset."""
        if not is_set(self.value):
            return {}
        return {"Cookie": f"{self.cookie}={self.value.reveal()}"}
