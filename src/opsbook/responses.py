"""The JSON response every app opsbook serves answers with (the web app, the sandbox)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse as _StarletteJSON

from opsbook.jsonout import dumps


class JSONResponse(_StarletteJSON):
    """Starlette's JSONResponse refuses NaN with a ValueError, a 500 for the client; this
    one writes it as null (jsonout), in the same compact UTF-8 form."""

    def render(self, content: Any) -> bytes:
        return dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
