"""keys.csv and version_gaps.csv: hand-merged replications, the ratio interval, the dominant-key
line, and an end-to-end run whose per-key columns sum to the run's own totals."""
from __future__ import annotations

import math

import pytest
from click.testing import CliRunner

from occmodel.cli import main
from occmodel.keytable import dominant, merge_point, ratio_ci95
from occmodel.results import read_csv, read_json


def test_ratio_interval_by_hand():
    # R = 6 / 8; residuals x − R·y = −0.5, 0.5, 0; s = √(0.5 / 2) = 0.5; t(0.975, 2) = 4.302652729911275
    r, hw = ratio_ci95([1, 2, 3], [2, 2, 4])
    assert r == 0.75
    assert hw == pytest.approx(4.302652729911275 * 0.5 / (math.sqrt(3) * 8 / 3), rel=1e-9)
    assert ratio_ci95([1, 2], [2, 4]) == (0.5, 0.0)          # every replication at the ratio exactly
    assert ratio_ci95([3], [4]) == (0.75, math.inf)           # one replication: no variance estimate
    assert all(math.isnan(v) for v in ratio_ci95([0, 0], [0, 0]))


# each saved row: key, operations, attempts, conflicts, stale, gap_sum, gap_max
REP0 = {"rows": [[0, 10, 14, 4, 1, 6, 3], [1, 5, 6, 1, 0, 1, 1]], "other": [0] * 6, "gaps": [[1, 3], [2, 1], [3, 1]]}
REP1 = {"rows": [[0, 8, 10, 2, 0, 2, 1], [2, 3, 4, 1, 1, 2, 2]], "other": [4, 4, 1, 0, 5, 5],
        "gaps": [[1, 2], [2, 1], [5, 1]]}


def test_replications_merge_by_hand():
    keys, gaps = merge_point([REP0, REP1])
    by_key = {r["key"]: r for r in keys}
    assert [r["key"] for r in keys] == [0, 1, 2, "other"]    # by conflicts, then operations; "other" last
    assert [r["rank"] for r in keys] == [1, 2, 3, None]
    k0 = by_key[0]
    assert (k0["operations"], k0["attempts"], k0["conflicts"]) == (18, 24, 6)
    assert (k0["stale_conflicts"], k0["fresh_conflicts"]) == (1, 5)
    assert k0["mean_version_gap"] == 8 / 6 and k0["max_version_gap"] == 3      # max merged by max, not sum
    assert k0["conflict_rate"] == 6 / 24 and k0["share"] == 6 / 9              # 9 conflicts in all
    # key 0 is listed by both replications: its intervals are the ratio estimator's
    assert k0["conflict_rate_ci95"] == ratio_ci95([4, 2], [14, 10])[1]
    assert k0["share_ci95"] == ratio_ci95([4, 2], [5, 4])[1]
    # key 1: replication 1 folded keys into "other", so key 1's count there is unknown
    assert math.isnan(by_key[1]["share_ci95"]) and by_key[1]["share"] == 1 / 9
    # key 2 is absent from replication 0, which listed every key it touched: 0 there is exact
    assert by_key[2]["share_ci95"] == ratio_ci95([0, 1], [5, 4])[1]
    other = by_key["other"]
    assert (other["operations"], other["conflicts"], other["max_version_gap"]) == (4, 1, 5)
    assert sum(r["conflicts"] for r in keys) == 9 == sum(g["conflicts"] for g in gaps)
    assert [(g["version_gap"], g["conflicts"]) for g in gaps] == [(1, 5), (2, 2), (3, 1), (5, 1)]
    assert sum(g["share"] for g in gaps) == pytest.approx(1.0)


def rows(*conflicts):
    return [{"rank": i + 1, "key": i, "conflicts": c} for i, c in enumerate(conflicts)]


def test_dominant_key_line():
    line = dominant([("clients = 4", rows(3, 3, 2, 2), 4), ("clients = 64", rows(61, 20, 19), 8)])
    assert line.startswith("key 0: 61 % of conflicts at clients = 64 (8 keys, 12 % each if even")
    assert dominant([("a", rows(5, 5), 2)]) is None           # an even spread over 2 keys: 50 % each
    assert dominant([("a", rows(10), 1)]) is None             # one key holds every conflict trivially
    assert dominant([("a", rows(24, 24, 24, 24, 4), 100)]) is None   # hottest 24 % < a quarter
    assert dominant([("a", rows(), 8), ("b", rows(0, 0), 8)]) is None


CONFIG = """
[experiment]
name = "keys-e2e"
seed = 3
replications = 3
duration = "1s"
warmup = "0.2s"

[scenario.workload]
kind = "closed"
clients = 8
think = {dist = "exponential", mean = "2ms"}
keys = {count = 20, choice = "hotspot", hot_keys = 1, hot_fraction = 0.6}

[scenario.store]
commit = {capacity = 1, service = {dist = "exponential", mean = "1ms"}}

[scenario.operation]
kind = "append"

[sweep]
policy = [{label = "immediate", kind = "immediate", max_attempts = 5},
          {label = "jitter", kind = "jitter", base = "2ms", cap = "50ms", max_attempts = 5}]
"""


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    (d / "exp.toml").write_text(CONFIG)
    result = CliRunner().invoke(main, ["run", str(d / "exp.toml"), "--out", str(d / "out")])
    assert result.exit_code == 0, result.output
    return d / "out", result.output


def test_keys_csv_sums_to_the_runs_totals(e2e):
    out, _ = e2e
    runs, keys, gaps = read_csv(out / "runs.csv"), read_csv(out / "keys.csv"), read_csv(out / "version_gaps.csv")
    for label in ("immediate", "jitter"):
        mine = [r for r in runs if r["policy"] == label]
        ks = [r for r in keys if r["policy"] == label]
        conflicts = sum(round(r["conflict_rate"] * r["attempts_per_op"] * r["operations"]) for r in mine)
        assert sum(r["conflicts"] for r in ks) == conflicts > 0
        assert sum(r["operations"] for r in ks) == sum(r["operations"] for r in mine)      # one key per append
        assert sum(r["conflicts"] for r in gaps if r["policy"] == label) == conflicts
        assert [r["conflicts"] for r in ks] == sorted((r["conflicts"] for r in ks), reverse=True)
        assert ks[0]["key"] == 0                                 # the hot key
        assert all(isinstance(r["mean_version_gap"], float) and r["mean_version_gap"] >= 1
                   for r in ks if r["conflicts"])                # a plain number in the CSV
        mean_share = sum(r["top_key_conflict_share"] for r in mine) / len(mine)
        assert abs(ks[0]["share"] - mean_share) <= ks[0]["share_ci95"] + 0.05
    rows = read_json(out / "manifest.json")["rows"]
    assert rows["keys.csv"] == len(keys) and rows["version_gaps.csv"] == len(gaps)


def test_run_names_the_dominant_key(e2e):
    out, output = e2e
    line = read_json(out / "manifest.json")["dominant_key"]
    assert line.startswith("key 0: ") and "20 keys" in line and line in " ".join(output.split())
