"""Named latency distributions fitted to published measurements: `{preset = "NAME"}`.

A latency typed by hand is a guess; a preset is a guess with a source. Each preset is a
distribution table (the same shape a config would spell out) plus where its numbers come from
and the figures it was fitted to, so `occmodel presets` can print both and a test can check the
fit reproduces every cited figure.

Fits: where a source gives two quantiles (or a range read as two quantiles, said in the preset's
note), the preset is the lognormal through them; where it gives one typical value and no spread,
the preset is a constant at that value: a spread the source does not publish is not invented.
Network presets are *one-way* delays (half the cited round trip), because `network.one_way`
draws each hop separately; store presets are service times as the source measured them.

This module sits below `distributions` (which resolves `{preset = ...}` through `table()`), so it
imports nothing from the package.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

_Z = NormalDist().inv_cdf


@dataclass(frozen=True)
class Figure:
    """One cited number: the quantile level it is read as (None = the source's typical value)."""

    quantile: float | None
    seconds: float
    says: str          # the source's own words for the figure


@dataclass(frozen=True)
class Preset:
    name: str
    source: str        # citation: page and address
    figures: tuple[Figure, ...]
    note: str          # how the figures were read; what the source does not give

    @property
    def table(self) -> dict[str, Any]:
        """The distribution table the preset stands for."""
        quantiles = [f for f in self.figures if f.quantile is not None]
        if len(quantiles) >= 2:
            median, sigma = lognormal_through(quantiles[0].quantile, quantiles[0].seconds,
                                              quantiles[1].quantile, quantiles[1].seconds)
            return {"dist": "lognormal", "median": median, "sigma": sigma}
        return {"dist": "constant", "value": self.figures[0].seconds}


def lognormal_through(q1: float, x1: float, q2: float, x2: float) -> tuple[float, float]:
    """(median, sigma) of the lognormal whose q1- and q2-quantiles are x1 and x2."""
    if not (0 < q1 < q2 < 1 and 0 < x1 < x2):
        raise ValueError(f"need 0 < q1 < q2 < 1 and 0 < x1 < x2, got {q1}, {q2}, {x1}, {x2}")
    z1, z2 = _Z(q1), _Z(q2)
    sigma = (math.log(x2) - math.log(x1)) / (z2 - z1)
    return math.exp(math.log(x1) - sigma * z1), sigma


MS = 1e-3
# Ten pings: the expected rank of the smallest and largest of n draws sits at quantile
# 1/(n+1) and n/(n+1) (the mean-rank plotting position), so min and max are read as those.
_LOW10, _HIGH10 = 1 / 11, 10 / 11
_ORENSOL = ("O. Sol, 'Network Latency Inside And Across Amazon EC2 Availability Zones' (2009), "
            "https://orensol.com/2009/05/24/network-latency-inside-and-across-amazon-ec2-availability-zones/")
_FDB = ("FoundationDB documentation, Performance, 'Latency' (typical latencies at < 75 % load), "
        "https://apple.github.io/foundationdb/performance.html")
_ETCD = ("etcd documentation, Operations guide, Performance, 'Understanding performance', "
         "https://etcd.io/docs/v3.6/op-guide/performance/")
_CAS = ("C. Douglas, 'Conditional Operations in Object Stores' (2026-01), "
        "https://cdouglas.github.io/posts/2026/01/conditional ; medians from part 2, 'Simulating "
        "Multi-Table Contention in Catalog Formats', https://cdouglas.github.io/posts/2026/03/providercatalog")
_RANGE = ("the source gives a 'typical' range without saying which quantiles bound it; it is read "
          "as the central 90 % (5th to 95th percentile)")
_CAS_TOP = ("the source gives the median and the range of CAS latency it measured; the top of the "
            "range is read as the 99th percentile (the source's plots, not its text, hold the real "
            "tail). These are not YCSB figures: no published YCSB CAS percentiles for S3 or Azure "
            "were found")

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("same-az", _ORENSOL,
           (Figure(_LOW10, 0.215 * MS / 2, "us-east-1a, 10 pings: minimum RTT 0.215 ms"),
            Figure(_HIGH10, 0.348 * MS / 2, "maximum RTT 0.348 ms (average 0.263 ms)")),
           "one-way = RTT / 2; min and max of 10 pings read as quantiles 1/11 and 10/11"),
    Preset("cross-az", _ORENSOL,
           (Figure(_LOW10, 0.885 * MS / 2, "us-east-1a to us-east-1b, 10 pings: minimum RTT 0.885 ms"),
            Figure(_HIGH10, 1.110 * MS / 2, "maximum RTT 1.110 ms (average 0.937 ms)")),
           "one-way = RTT / 2; min and max of 10 pings read as quantiles 1/11 and 10/11"),
    Preset("cross-region", _ETCD,
           (Figure(None, 50 * MS / 2, "a typical RTT within the United States is around 50ms"),),
           "one-way = RTT / 2; the source gives one typical value and no spread, so a constant "
           "(it adds: 'can be as slow as 400ms between continents')"),
    Preset("fdb-grv", _FDB,
           (Figure(0.05, 0.3 * MS, "Start transaction 0.3 - 1ms"), Figure(0.95, 1.0 * MS, "")),
           _RANGE),
    Preset("fdb-read", _FDB,
           (Figure(0.05, 0.1 * MS, "Read 0.1 - 1ms"), Figure(0.95, 1.0 * MS, "")),
           _RANGE),
    Preset("fdb-commit", _FDB,
           (Figure(0.05, 1.5 * MS, "Commit 1.5 - 2.5ms"), Figure(0.95, 2.5 * MS, "")),
           _RANGE + "; the page adds that commit latency 'will average under 3 ms with moderate loads'"),
    Preset("etcd-write", _ETCD,
           (Figure(None, 1.0 * MS, "a three member etcd cluster finishes a request in less than "
                                   "one millisecond under light load"),),
           "the guide gives a light-load bound, no percentiles, so a constant at the bound; it "
           "explains the floor as member RTT plus fdatasync (< 1 ms on SSDs, ~10 ms on spinning disks)"),
    Preset("s3-cas", _CAS,
           (Figure(0.5, 61 * MS, "S3 median CAS latency 61ms"),
            Figure(0.99, 68 * MS, "S3 CAS latency 58-68 ms")),
           _CAS_TOP),
    Preset("azure-cas", _CAS,
           (Figure(0.5, 64 * MS, "Azure Premium median CAS latency 64ms"),
            Figure(0.99, 350 * MS, "Azure (Premium) CAS latency 60-350 ms")),
           _CAS_TOP + "; Azure Standard (100-600 ms, 'longer tails') has no published median, so no preset"),
]}


def table(name: Any) -> dict[str, Any]:
    """The distribution table of preset `name`; ValueError naming the presets there are."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)} (see `occmodel presets`)")
    return PRESETS[name].table
