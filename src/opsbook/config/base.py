"""What every section of opsbook.yaml shares: the strict model base and the severity names.

Apart from models.py so that a section in a module of its own (notify.py) can use them
without importing the whole schema (which imports it back)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

SeverityName = Literal["P0", "P1", "P2", "P3"]
SEVERITY_NAMES: tuple[SeverityName, ...] = ("P0", "P1", "P2", "P3")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _threshold(value: Any) -> Any:
    """Thresholds read as the seed writes them: `1%`, `3s`, `500ms`, or a plain number."""
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.endswith("%"):
                return float(text[:-1]) / 100
            if text.endswith("ms"):
                return float(text[:-2]) / 1000
            if text.endswith("s"):
                return float(text[:-1])
            return float(text)
        except ValueError:
            raise PydanticCustomError(
                "threshold", f"{value!r} is not a threshold (use 5%, 0.05, 3s or 500ms)"
            ) from None
    return value


# Finite: an `inf` or `nan` threshold would silently never (or always) fire.
Threshold = Annotated[float, BeforeValidator(_threshold), Field(allow_inf_nan=False)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]
