"""The numbers opsbook takes from a person, bounded in one place.

A number typed on the command line or written in opsbook.yaml or a runbook ends up in a
SQL parameter, a timedelta, a socket call or a loop. Past these bounds it would crash
(OverflowError, "integer out of range" from the database) instead of being refused with
exit 2. Durations have their own bound, in config/durations.py.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Interval  # pydantic reads it; Field would import pydantic

# Ids are INTEGER columns: 32 bits on PostgreSQL. No row has a larger one, and no page of
# rows needs to be longer than there can be rows.
MAX_ID = 2**31 - 1
MAX_PORT = 65_535
# Sandbox seeding: a hundred times the benchmark's million, and ids to spare.
MAX_ATTEMPTS = 100_000_000

Id = Annotated[int, Interval(ge=1, le=MAX_ID)]
Port = Annotated[int, Interval(ge=1, le=MAX_PORT)]


def parse_id(value: str, what: str = "an id") -> int:
    """`12` or `#12` -> 12; ValueError saying what `what` looks like for anything else."""
    text = value.strip().lstrip("#")
    # isascii: `²` is a digit to str.isdigit but not to int(); len: never convert 5000 digits.
    if text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID)):
        number = int(text)
        if 1 <= number <= MAX_ID:
            return number
    raise ValueError(f"{value!r} is not {what} (use a number from 1 to {MAX_ID}, like 12 or #12)")
