"""Per-key conflict counts of one run, in bounded memory: which keys conflict, how far behind.

The event-store examples end with "analyze the version conflict" (key, current version, attempted
version, gap); a whole run's answer is a table per key. Counting must stay cheap (the recorder
bumps two list slots per key per operation) and memory bounded for keyspaces of millions of keys,
so `KeyStats` keeps exact counts in plain lists indexed by key for the first `LIMIT` keys and one
aggregate slot (index `limit`: the "other" row) for every key above. The aggregate's totals are
exact sums too.

Why the first keys: every key choice in the model numbers keys by popularity, so no key past
`LIMIT` is drawn more often than one below it. zipf draws key i with probability ∝ (i + 1)^−s
(decreasing); hotspot makes keys 0 … hot_keys − 1 the hot ones and the rest equally cold; uniform
draws every key alike, so the exact keys are as good as any. `affinity` adds, for each client, a
uniform draw from its own keys (≡ client id mod clients), which is the same for every key up to
one key of rounding in the share sizes (and for clients that run at equal rates), so it leaves
the order as it was (`tests/test_keystats.py` checks each choice's key frequencies). Where keys are
equally popular (uniform, or more than `LIMIT` hot keys), the keys past `LIMIT` are no hotter than
the exact ones, only other draws of the same; `top_key_conflict_share` is then the largest share
among the exact keys.

The population is the recorder's (operations started in the measurement window): a key's
*operations* count the finished operations that read or wrote it, its *attempts* their attempts
counted as each one returns (as `attempts` is), so per-key attempts and conflicts sum to the run's
`attempts` × keys per operation and `conflicts`. Its *conflicts* are the ones the store attributed
to it (the written key whose version moved on, or, for `read_set`, the read key written after the
read version); *stale* conflicts are those of attempts that trusted a cached version (value
checks), the rest followed a fresh read. The version gap (current − attempted + 1: the writes the
attempt missed) is also kept as an exact histogram up to `GAP_LIMIT` (larger gaps share the last
bucket; the maximum stays exact).

A run saves its `SAVED` hottest keys (by conflicts, then operations, then key) and folds the rest
into "other" (`KeyStats.saved`); `occmodel.keytable` merges a point's replications into keys.csv.
"""
from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np

LIMIT = 65_536        # keys with exact counts; above them one aggregate slot
GAP_LIMIT = 65_536    # exact version-gap histogram up to here
SAVED = 1_000         # keys a run saves for keys.csv
FIELDS = ("operations", "attempts", "conflicts", "stale", "gap_sum", "gap_max")
GAP_MAX = FIELDS.index("gap_max")    # the one field merged by max, not by sum


class KeyStats:
    """Exact per-key counts for keys below `limit`, one aggregate slot (index `limit`) above."""

    def __init__(self, keys: int, limit: int = LIMIT) -> None:
        self.keys = keys
        self.limit = n = min(keys, limit)
        # lists where the recorder bumps a slot per operation (fastest from Python), machine-int
        # arrays where only conflicts write (cheap to hand to numpy at the end)
        self.operations = [0] * (n + 1)
        self.attempts = [0] * (n + 1)
        self.conflicts = array("q", bytes(8 * (n + 1)))
        self.stale = array("q", bytes(8 * (n + 1)))
        self.gap_sum = array("q", bytes(8 * (n + 1)))
        self.gap_max = array("q", bytes(8 * (n + 1)))
        self.gaps = [0] * 16                # gaps[g]: conflicts with version gap g; grown on demand

    def conflict(self, key: int, gap: int, stale: bool) -> None:
        """One conflict on `key` (conflicts only, so a method call is affordable)."""
        i = key if key < self.limit else self.limit
        self.conflicts[i] += 1
        self.gap_sum[i] += gap
        if gap > self.gap_max[i]:
            self.gap_max[i] = gap
        if stale:
            self.stale[i] += 1
        g = gap if gap < GAP_LIMIT else GAP_LIMIT
        if g >= len(self.gaps):
            self.gaps.extend([0] * (min(GAP_LIMIT + 1, 2 * (g + 1)) - len(self.gaps)))
        self.gaps[g] += 1

    def merge(self, other: "KeyStats") -> None:
        """Add `other`'s counts (another process's, for the same keyspace: real clients)."""
        for name in FIELDS:
            mine, theirs = getattr(self, name), getattr(other, name)
            for i, v in enumerate(theirs):
                if v:
                    mine[i] = max(mine[i], v) if name == "gap_max" else mine[i] + v
        if len(other.gaps) > len(self.gaps):
            self.gaps.extend([0] * (len(other.gaps) - len(self.gaps)))
        for g, count in enumerate(other.gaps):
            self.gaps[g] += count

    def size(self) -> int:
        """Slots held: at most 6 × (LIMIT + 1) + GAP_LIMIT + 1, whatever the keyspace."""
        return sum(len(getattr(self, f)) for f in FIELDS) + len(self.gaps)

    # --- at the end ----------------------------------------------------------------------
    def gap_metrics(self) -> dict[str, float]:
        """p50, p99 (nearest rank) and max of the version gap over all conflicts; NaN without any."""
        counts = np.asarray(self.gaps, dtype=np.int64)
        n = int(counts.sum())
        if n == 0:
            return {"p50_version_gap": math.nan, "p99_version_gap": math.nan, "max_version_gap": math.nan}
        cum = np.cumsum(counts)
        return {"p50_version_gap": float(np.searchsorted(cum, max(1, math.ceil(0.5 * n)))),
                "p99_version_gap": float(np.searchsorted(cum, max(1, math.ceil(0.99 * n)))),
                "max_version_gap": float(max(self.gap_max))}

    def top_share(self) -> float:
        """Share of all conflicts on the single hottest key (the aggregate slot is no key); NaN
        without conflicts."""
        total = sum(self.conflicts)
        return max(self.conflicts[:self.limit]) / total if total else math.nan

    def saved(self, top: int = SAVED) -> dict[str, Any]:
        """The run's part of keys.csv, JSON-ready: `rows` [key, *FIELDS] of the `top` hottest keys
        (by conflicts, operations, key), `other` (FIELDS summed over every other key) and `gaps`
        ([gap, count] of the version-gap histogram)."""
        a = np.stack([np.asarray(getattr(self, f), dtype=np.int64) for f in FIELDS])  # (fields, limit + 1)
        exact = a[:, :self.limit]
        used = np.nonzero(exact[0] | exact[1] | exact[2])[0]
        order = used[np.lexsort((used, -exact[0, used], -exact[2, used]))][:top]
        rest = np.ones(self.limit, dtype=bool)
        rest[order] = False
        other = a[:, self.limit] + exact[:, rest].sum(axis=1)
        other[GAP_MAX] = max(int(a[GAP_MAX, self.limit]), int(exact[GAP_MAX, rest].max(initial=0)))
        gaps = np.nonzero(self.gaps)[0]
        return {"rows": np.vstack([order, exact[:, order]]).T.tolist(), "other": other.tolist(),
                "gaps": [[int(g), int(self.gaps[g])] for g in gaps]}
