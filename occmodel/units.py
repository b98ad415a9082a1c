"""Durations with units, as configs write them.

Configs say `"250us"`, `"2ms"`, `"1.5s"` or a bare number of seconds; the model works in float
seconds. `Duration` is the pydantic type every time-valued key uses, so the rule (non-negative,
a known unit) lives in one place and its error message names what is allowed. Each such type
carries a `ValueType`: its name and rule in words (the reference docs' type column) and the JSON
Schema of what a config may write there (`occmodel schema`), next to the parser they describe.
"""
from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import core_schema as cs

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


def parse_warmup(value: Any) -> float | str:
    """`experiment.warmup`: "auto" (found by MSER-5) or a duration."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        return parse_duration(value)
    except ValueError:
        raise ValueError(f'expected "auto" or a duration, {ALLOWED}') from None


def parse_capacity(value: Any) -> float:
    """A server capacity: a positive whole number, or "inf" for no queueing."""
    if isinstance(value, str) and value.strip().lower() in ("inf", "infinity", "unbounded"):
        return math.inf
    if isinstance(value, float) and math.isinf(value) and value > 0:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1 or value != int(value):
        raise ValueError('expected a whole number >= 1 or "inf"')
    return float(value)


class ValueType:
    """A config value type as users write it: `name` and `rule` for the reference docs, `schema`
    for the JSON Schema. Put in an `Annotated` type's metadata; pydantic asks it for the field's
    schema. With `extends`, the schema's alternatives are added to the one pydantic derives (a
    distribution: shorthands beside the tables)."""

    def __init__(self, name: str, rule: str, schema: dict[str, Any], extends: bool = False) -> None:
        self.name, self.rule, self.schema, self.extends = name, rule, schema, extends

    def __get_pydantic_json_schema__(self, core: cs.CoreSchema, handler: Any) -> dict[str, Any]:
        if self.extends:
            return {"anyOf": [*self.schema["anyOf"], handler(core)]}
        return dict(self.schema)

    def __repr__(self) -> str:
        return f"ValueType({self.name!r})"


def _letters(word: str) -> str:
    """A regex matching `word` in any case (JSON Schema patterns have no case-insensitive flag)."""
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word)


_NUMBER = r"[+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
DURATION_SCHEMA: dict[str, Any] = {"anyOf": [
    {"type": "number", "minimum": 0},
    {"type": "string", "pattern": rf"^\s*{_NUMBER}\s*(?:{'|'.join(UNITS)})?\s*$"}]}
DURATION = ValueType("duration", f"{ALLOWED}; >= 0, finite", DURATION_SCHEMA)
CAPACITY = ValueType("capacity", 'a whole number >= 1, or "inf" (no queue: every request served at once)', {"anyOf": [
    {"type": "integer", "minimum": 1},
    {"type": "string", "pattern": rf"^\s*(?:{'|'.join(_letters(w) for w in ('inf', 'infinity', 'unbounded'))})\s*$"}]})
DRAIN = ValueType("drain", '"auto" (up to 10 window lengths) or a finite duration', {"anyOf": [
    {"type": "string", "pattern": rf"^\s*{_letters('auto')}\s*$"}, *DURATION_SCHEMA["anyOf"]]})
WARMUP = ValueType("warm-up", '"auto" (MSER-5 on each run\'s own time series) or a duration', {"anyOf": [
    {"type": "string", "pattern": rf"^\s*{_letters('auto')}\s*$"}, *DURATION_SCHEMA["anyOf"]]})

Duration = Annotated[float, BeforeValidator(parse_duration), DURATION]
Capacity = Annotated[float, BeforeValidator(parse_capacity), CAPACITY]
Drain = Annotated[float | str, BeforeValidator(parse_drain), DRAIN]
Warmup = Annotated[float | str, BeforeValidator(parse_warmup), WARMUP]


def format_duration(seconds: float) -> str:
    """Human-readable duration for tables and traces."""
    if seconds == 0:
        return "0s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.4g}{unit}"
    return f"{seconds / 1e-9:.4g}ns"
