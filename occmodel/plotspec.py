"""The `[plot]` table: what a results directory cannot decide for itself about its plots.

Plots are drawn from the saved files alone (`occmodel plot DIR`), so this table travels in
manifest.json, and it is not part of what the runs depend on: edit it and re-run, and the plots
are redrawn without simulating again. Two choices (DESIGN 6.4):

- `heatmap`: the metastability map. A sweep over exactly two numeric keys besides policy draws
  `plots/heatmap-<metric>.png`: without this table for `collapsed` alone and only when some run
  collapsed (an all-zero map says nothing in a sweep that was not about collapse); with it, for
  each listed metric, always. `x` and `y` name the two keys when more are swept; by default the
  map reads like the grid: the first swept key down (y), the second across (x).
- `labels`: axis text for swept keys, where a dotted key does not say what it is
  (`workload.schedule.1.until` is when a spike ends, not how long it lasts).
"""
from __future__ import annotations

from typing import Any, Literal, Mapping, Sequence

from pydantic import Field

from .config import StrictModel
from .errors import ConfigError, validate
from .metrics import METRICS
from .units import parse_duration

DEFAULT_HEATMAP = "collapsed"


class HeatmapTable(StrictModel):
    """A metastability map: one metric over two swept keys, one panel per policy, collapse boundary drawn."""

    metrics: list[Literal[METRICS]] = Field(
        [DEFAULT_HEATMAP], min_length=1, description="the metrics mapped, one `plots/heatmap-<metric>.png` each")
    x: str | None = Field(None, description="the swept numeric key across (default: the second numeric swept key)")
    y: str | None = Field(None, description="the swept numeric key up (default: the first numeric swept key)")


class PlotTable(StrictModel):
    """Choices about the plots the saved files cannot make (kept in manifest.json; changing them re-runs nothing)."""

    heatmap: HeatmapTable | None = Field(None, description="draw metastability maps of these metrics "
                                         "(default: collapsed, when a sweep has two numeric keys and some run collapsed)")
    labels: dict[str, str] = Field({}, description='axis text for swept keys, with the unit, e.g. '
                                   '"workload.schedule.1.until" = "spike end (s)"')


def is_numeric(value: Any) -> bool:
    """A number or a duration string: a swept value that can sit on an axis."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        parse_duration(value)
    except ValueError:
        return False
    return True


def numeric_keys(values: Mapping[str, Sequence[Any]]) -> list[str]:
    """Swept keys besides policy with two or more values, all numeric, in sweep order."""
    return [k for k, vs in values.items()
            if k != "policy" and len(set(map(str, vs))) >= 2 and all(is_numeric(v) for v in vs)]


def heatmap_axes(numeric: Sequence[str], spec: HeatmapTable | None) -> tuple[str, str] | None:
    """(x, y) of the map, or None when the sweep has no pair to map (and none was named)."""
    x, y = (spec.x, spec.y) if spec else (None, None)
    if x and y:
        return x, y
    if len(numeric) != 2:
        return None
    if x or y:
        named = x or y
        other = next(k for k in numeric if k != named)
        return (x, other) if x else (other, y)  # type: ignore[return-value]
    return numeric[1], numeric[0]


def parse_plot(raw: Any, values: Mapping[str, Sequence[Any]]) -> PlotTable:
    """Validate `[plot]` against the sweep (`values`: swept key -> its values); `ConfigError` names the key."""
    spec: PlotTable = validate(PlotTable, {} if raw is None else raw, "plot")
    for key in spec.labels:
        if key not in values:
            raise ConfigError(f"plot.labels.{key}", spec.labels[key],
                              f"not a swept key; allowed: {', '.join(values) or 'nothing (no key is swept)'}")
    hm = spec.heatmap
    if hm is None:
        return spec
    numeric = numeric_keys(values)
    allowed = ", ".join(numeric) or "none (no swept key besides policy has two or more numeric values)"
    for side in ("x", "y"):
        key = getattr(hm, side)
        if key is not None and key not in numeric:
            raise ConfigError(f"plot.heatmap.{side}", key, f"not a numeric swept key with two or more values; "
                                                          f"allowed: {allowed}")
    if hm.x is not None and hm.x == hm.y:
        raise ConfigError("plot.heatmap.y", hm.y, "is the same key as x; a map needs two different keys")
    if heatmap_axes(numeric, hm) is None:
        side = "x" if hm.x is None else "y"
        raise ConfigError(f"plot.heatmap.{side}", None, f"a map needs two numeric swept keys and the sweep has "
                                                       f"{len(numeric)}: {allowed}" + (": name x and y" if len(numeric) > 2 else ""))
    return spec


__all__ = ["HeatmapTable", "PlotTable", "heatmap_axes", "is_numeric", "numeric_keys", "parse_plot"]
