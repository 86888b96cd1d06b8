"""JSON as RFC 8259 defines it, wherever opsbook writes JSON: `--json` output, the web
apps' responses, the store's JSON columns and the audit chain's seal.

Python's `json.dumps` writes NaN and infinities as the bare words `NaN` and `Infinity`,
which no strict parser reads (jq, JavaScript's JSON.parse, PostgreSQL's json type all
refuse them). A measurement can be such a number (Prometheus answers `0/0` with NaN), so
every writer goes through `dumps`: a non-finite number becomes null, "no number".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any


def finite(value: Any) -> Any:
    """`value` with every NaN and infinity (in dicts, lists and tuples) turned into None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_finite_key(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def _finite_key(key: Any) -> Any:
    # json.dumps writes a float key as its repr; a non-finite one has no JSON number form.
    return str(key) if isinstance(key, float) and not math.isfinite(key) else key


def dumps(
    value: Any,
    *,
    indent: int | None = None,
    default: Callable[[Any], Any] | None = None,
    sort_keys: bool = False,
    separators: tuple[str, str] | None = None,
    ensure_ascii: bool = True,
) -> str:
    """`json.dumps` that never writes NaN or Infinity. Values without them come out byte
    for byte as `json.dumps` writes them (the audit chain's seals depend on it); only
    when one is there is the value walked and written again."""

    def strict_default(item: Any) -> Any:
        # What `default` makes of an object (a dataclass's fields) may hold NaN too.
        if default is None:
            raise TypeError(f"Object of type {type(item).__name__} is not JSON serializable")
        return finite(default(item))

    options: dict[str, Any] = {
        "indent": indent,
        "default": strict_default,
        "sort_keys": sort_keys,
        "separators": separators,
        "ensure_ascii": ensure_ascii,
        "allow_nan": False,
    }
    try:
        return json.dumps(value, **options)
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise  # a circular reference: walking it again would not end
        return json.dumps(finite(value), **options)
