"""Reading a Prometheus instant query's answer (`/api/v1/query`): its series, named as
Prometheus writes them, and their values as numbers.

The answer is a peer's: every field is checked before use, and a shape the API does not
document is a sentence, not a crash. Values arrive as strings ("1", "NaN", "+Inf").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Aggregation = Literal["min", "max", "sum", "avg", "any", "all"]
_LABEL_SHOWN = 60  # characters of one label value in a series' name
_NAME_SHOWN = 200  # characters of a whole series' name


class BadAnswer(Exception):
    """A successful answer a check cannot judge (a string, a range vector, a bad shape)."""


@dataclass(frozen=True)
class Series:
    name: str  # as Prometheus shows it: up{instance="a:9100",job="node"}
    labels: dict[str, str]
    value: float


def series_of(data: Any, metric: str) -> list[Series]:
    """The series of an answer's `data`; a scalar is one series named `metric`."""
    if not isinstance(data, dict):
        raise BadAnswer("Prometheus answered success without data")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return [Series(metric, {}, _value(result))]
    if kind == "string":
        text = result[1] if isinstance(result, list) and len(result) == 2 else result
        raise BadAnswer(f"the query returned a string ({_cut(str(text))!r}), not a number")
    if kind == "matrix":
        raise BadAnswer(
            "the query returned a range vector (a [duration] selector); a check reads an"
            " instant vector or a scalar: wrap it, e.g. in max_over_time(...)"
        )
    if kind != "vector" or not isinstance(result, list):
        raise BadAnswer(f"Prometheus answered an unknown result type {_cut(repr(kind))}")
    return [_vector_series(item, metric) for item in result]


def _vector_series(item: Any, metric: str) -> Series:
    if not isinstance(item, dict) or not isinstance(item.get("metric", {}), dict):
        raise BadAnswer("Prometheus answered a series without labels")
    labels = {str(k): str(v) for k, v in item.get("metric", {}).items()}
    return Series(series_name(labels, metric), labels, _value(item.get("value")))


def _value(pair: Any) -> float:
    """The number in a `[time, "value"]` pair; "NaN" and "+Inf" stay what they are."""
    if not isinstance(pair, list) or len(pair) != 2:
        raise BadAnswer("Prometheus answered a sample without a [time, value] pair")
    raw = pair[1]
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise BadAnswer(f"Prometheus answered a value that is not a number: {_cut(repr(raw))}")
    try:
        return float(raw)
    except ValueError:
        raise BadAnswer(
            f"Prometheus answered a value that is not a number: {_cut(repr(raw))}"
        ) from None


def series_name(labels: dict[str, str], metric: str) -> str:
    """`name{label="value",...}` as Prometheus writes a series, quotes and backslashes
    escaped; `metric` names a series the query left nameless (sum(...), a/b)."""
    name = labels.get("__name__") or metric
    pairs = ",".join(
        f'{_cut(key)}="{_escape(_cut(value))}"'
        for key, value in sorted(labels.items())
        if key != "__name__"
    )
    return _cut(f"{name}{{{pairs}}}" if pairs else name, _NAME_SHOWN)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _cut(text: str, limit: int = _LABEL_SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(value: float) -> str:
    """A value as Prometheus writes it: NaN, +Inf, -Inf, else the shortest form."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:g}"


def _sum(values: list[float]) -> float:
    try:
        return math.fsum(values)
    except OverflowError:  # fsum refuses a total past the largest float: that is +-Inf
        return sum(values)


_AGGREGATIONS: dict[str, Callable[[list[float]], float]] = {
    "min": min,
    "max": max,
    "sum": _sum,
    "avg": lambda values: _sum(values) / len(values),
    "any": lambda values: float(any(v != 0 for v in values)),
    "all": lambda values: float(all(v != 0 for v in values)),
}


def aggregate(kind: Aggregation, found: list[Series], metric: str) -> Series:
    """One series standing for all of them; a NaN or infinite one stands for itself, as
    no aggregate of it means anything (min would skip it, sum would hide the rest)."""
    broken = [s for s in found if not math.isfinite(s.value)]
    if broken:
        return broken[0]
    value = _AGGREGATIONS[kind]([s.value for s in found])
    return Series(f"{kind}({metric}) over {len(found)} series", {}, value)
