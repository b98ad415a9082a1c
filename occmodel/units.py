"""Durations with units, as configs write them.

Configs say `"250us"`, `"2ms"`, `"1.5s"` or a bare number of seconds; the model works in float
seconds. `Duration` is the pydantic type every time-valued key uses, so the rule (non-negative,
a known unit) lives in one place and its error message names what is allowed.
"""
from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-zµ]*)\s*$")
ALLOWED = 'a number of seconds or a string with a unit, e.g. "250us", "2ms", "1.5s" (units: ns us ms s min h)'


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string with a unit; rejects negatives, NaN, infinity (a run
    that must wait forever never ends) and unknown units."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, {ALLOWED}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        m = _PATTERN.match(value)
        if not m or (m.group(2) or "s") not in UNITS:
            raise ValueError(f"expected a duration, {ALLOWED}")
        seconds = float(m.group(1)) * UNITS[m.group(2) or "s"]
    else:
        raise ValueError(f"expected a duration, {ALLOWED}")
    if not seconds >= 0:
        raise ValueError(f"a duration must be >= 0 ({ALLOWED})")
    if not math.isfinite(seconds):
        raise ValueError(f"a duration must be finite ({ALLOWED})")
    return seconds


def parse_drain(value: Any) -> float | str:
    """`experiment.drain`: "auto" or a finite duration."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ValueError(f'expected "auto" or a duration, {ALLOWED}') from None
    if math.isinf(seconds):
        raise ValueError('expected "auto" or a finite duration (a drain must end)')
    return seconds


def parse_capacity(value: Any) -> float:
    """A server capacity: a positive whole number, or "inf" for no queueing."""
    if isinstance(value, str) and value.strip().lower() in ("inf", "infinity", "unbounded"):
        return math.inf
    if isinstance(value, float) and math.isinf(value) and value > 0:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1 or value != int(value):
        raise ValueError('expected a whole number >= 1 or "inf"')
    return float(value)


Duration = Annotated[float, BeforeValidator(parse_duration)]
Capacity = Annotated[float, BeforeValidator(parse_capacity)]
Drain = Annotated[float | str, BeforeValidator(parse_drain)]


def format_duration(seconds: float) -> str:
    """Human-readable duration for tables and traces."""
    if seconds == 0:
        return "0s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.4g}{unit}"
    return f"{seconds / 1e-9:.4g}ns"
