"""The JSON response every app opsbook serves answers with (the web app, the sandbox),
and how its receivers refuse a request."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse as _StarletteJSON
from pydantic import ValidationError

from opsbook.bodies import BodyError, shown
from opsbook.jsonout import dumps

log = logging.getLogger("opsbook.web")


class JSONResponse(_StarletteJSON):
    """Starlette's JSONResponse refuses NaN with a ValueError, a 500 for the client; this
    one writes it as null (jsonout), in the same compact UTF-8 form."""

    def render(self, content: Any) -> bytes:
        return dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def refused(
    request: Request, what: str, status: int, error: str, detail: str | None = None
) -> JSONResponse:
    """The refusal answered as `{"error", "detail"}`, and one line on serve's output naming
    the sender and `what` it sent: a misconfigured sender is otherwise silent (it drops what
    a 4xx refused)."""
    client = request.client
    sender = f"{client.host}:{client.port}" if client else "an unknown sender"
    why = f"{error}: {shown(detail)}" if detail else error
    log.warning("refused %s from %s (%d): %s", what, sender, status, why)
    body = {"error": error} | ({"detail": detail} if detail else {})
    return JSONResponse(body, status_code=status)


def explain(exc: ValidationError | BodyError) -> str:
    """The first problem in words, naming the field: `alerts.0.status: Input should be...`.
    (The input itself is left out: it may be a megabyte long.)"""
    if isinstance(exc, BodyError):
        return str(exc)
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])
