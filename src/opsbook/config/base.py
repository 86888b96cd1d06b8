"""What every section of opsbook.yaml shares: the strict model base and the severity names.

Apart from models.py so that a section in a module of its own (notify.py) can use them
without importing the whole schema (which imports it back)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

SeverityName = Literal["P0", "P1", "P2", "P3"]
SEVERITY_NAMES: tuple[SeverityName, ...] = ("P0", "P1", "P2", "P3")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
