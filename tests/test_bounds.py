"""Bounds: verdicts against confidence intervals, paired policy comparisons, config errors,
and the pytest helper's failure message."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from occmodel.bounds import BoundsError, Verdict, all_hold, evaluate, parse_bounds, render
from occmodel.results import write_csv
from occmodel.stats import mean_ci95
from occmodel.testing import assert_bounds

SWEPT = ["workload.clients", "policy"]
METRICS = ["throughput", "p99_ms", "calls", "mean_ms"]


def runs_for(points: dict[tuple[Any, str], dict[str, list[Any]]]) -> list[dict[str, Any]]:
    """A runs table: {(clients, policy): {metric: [value per replication]}}."""
    rows = []
    for (clients, policy), metrics in points.items():
        reps = len(next(iter(metrics.values())))
        for r in range(reps):
            row = {"workload.clients": clients, "policy": policy, "replication": r, "seed": 7}
            rows.append(row | {m: values[r] for m, values in metrics.items()})
    return rows


def check(values: list[Any], limit: str, metric: str = "p99_ms") -> Verdict:
    runs = runs_for({(64, "expo"): {metric: values}})
    [verdict] = evaluate(parse_bounds([{metric: limit}], SWEPT, METRICS, points=runs), runs, SWEPT)
    return verdict


# [99, 100, 101]: mean 100, 95 % interval ≈ [97.5, 102.5]
@pytest.mark.parametrize(
    "limit, expected",
    [
        ("< 110", "holds"), ("< 90", "fails"), ("< 100", "inconclusive"),
        ("<= 110", "holds"), ("<= 90", "fails"), ("<= 100", "inconclusive"),
        ("> 90", "holds"), ("> 110", "fails"), ("> 100", "inconclusive"),
        (">= 90", "holds"), (">= 110", "fails"), (">= 100", "inconclusive"),
    ],
)
def test_verdict_for_each_operator(limit: str, expected: str) -> None:
    v = check([99.0, 100.0, 101.0], limit)
    assert v.verdict == expected
    assert (v.estimate, v.n) == (100.0, 3)
    assert (v.low, v.high) == pytest.approx((97.516, 102.484), abs=1e-3)
    assert v.bound == f"p99_ms {limit}"
    assert v.point == "workload.clients=64 policy=expo"


def test_inconclusive_note_estimates_replications_needed() -> None:
    v = check([99.0, 100.0, 101.0], "< 102")
    # mean 100, sd 1, gap 2: t(n−1)/√n < 2 first at n = 4 (3.18/2 = 1.59)
    assert v.verdict == "inconclusive"
    assert v.note == "~4 replications would likely decide it"
    assert check([99.0, 101.0], "< 100").note.startswith("mean equals the limit")


@pytest.mark.parametrize(
    "limit, expected",
    [("< 250", "fails"), ("<= 250", "holds"), ("> 250", "fails"), (">= 250", "holds"),
     ("< 251", "holds"), ("> 249", "holds")],
)
def test_zero_variance_is_judged_exactly(limit: str, expected: str) -> None:
    v = check([250.0, 250.0, 250.0], limit)
    assert (v.verdict, v.low, v.high) == (expected, 250.0, 250.0)


def test_single_replication_is_inconclusive() -> None:
    v = check([10.0], "< 1000")
    assert v.verdict == "inconclusive"
    assert (v.low, v.high, v.n) == (-math.inf, math.inf, 1)
    assert "one replication" in v.note


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_missing_metric_in_a_replication_is_inconclusive(missing: Any) -> None:
    v = check([10.0, missing, 12.0], "< 1000")
    assert v.verdict == "inconclusive"
    assert (v.estimate, v.low, v.high, v.n) == (11.0, None, None, 3)
    assert v.note == "p99_ms undefined in 1 of 3 replications"


def test_metric_missing_everywhere_has_no_estimate() -> None:
    v = check([None, None], "< 1000")
    assert (v.verdict, v.estimate) == ("inconclusive", None)


negation = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}


@settings(deadline=None, max_examples=60)
@given(
    st.lists(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False), min_size=1, max_size=12),
    st.integers(min_value=-1000, max_value=1000),
    st.sampled_from(list(negation)),
)
def test_a_bound_holds_exactly_when_its_negation_fails(values: list[float], limit: int, op: str) -> None:
    v, neg = check(values, f"{op} {limit}"), check(values, f"{negation[op]} {limit}")
    assert (v.verdict == "holds") == (neg.verdict == "fails")
    assert (v.verdict == "inconclusive") == (neg.verdict == "inconclusive")


def crn_runs(rng: np.random.Generator, reps: int = 10) -> list[dict[str, Any]]:
    """Replication r of both policies shares a large common component (as common random
    numbers give); full-jitter costs 5 % less on top of it."""
    base = rng.normal(1000.0, 200.0, size=reps)
    return runs_for({
        (64, "full-jitter"): {"calls": list(base * 0.95 + rng.normal(0, 2, reps))},
        (64, "expo"): {"calls": list(base + rng.normal(0, 2, reps))},
    })


def compare(expect: str, **extra: Any) -> dict[str, Any]:
    return {"compare": {"a": "full-jitter", "b": "expo", "metric": "calls", "expect": expect}, **extra}


def test_paired_compare_decides_where_unpaired_intervals_overlap() -> None:
    runs = crn_runs(np.random.default_rng(3))
    a = [r["calls"] for r in runs if r["policy"] == "full-jitter"]
    b = [r["calls"] for r in runs if r["policy"] == "expo"]
    (ma, ha), (mb, hb) = mean_ci95(a), mean_ci95(b)
    assert ma + ha > mb - hb  # separately, the two intervals overlap: no decision possible

    bounds = parse_bounds([compare("a < b"), compare("a > b"), compare("a >= b")], SWEPT, METRICS, points=runs)
    less, greater, at_least = evaluate(bounds, runs, SWEPT)
    assert (less.verdict, greater.verdict, at_least.verdict) == ("holds", "fails", "fails")
    assert less.bound == "calls: full-jitter < expo"
    assert less.point == "workload.clients=64"
    assert less.n == 10
    assert less.estimate == pytest.approx(np.mean(np.subtract(a, b)))
    assert less.low < less.estimate < less.high < 0

    # Pairing is what decides it: break the pairs and the same data is inconclusive.
    for row in runs:
        if row["policy"] == "expo":
            row["replication"] = (row["replication"] + 1) % 10
    [shuffled] = evaluate(bounds[:1], runs, SWEPT)
    assert shuffled.verdict == "inconclusive"


def test_compare_is_judged_per_point_of_the_other_swept_keys() -> None:
    rng = np.random.default_rng(5)
    runs = crn_runs(rng) + [r | {"workload.clients": 8} for r in crn_runs(rng)]
    bounds = parse_bounds([compare("a <= b", name="jitter is cheaper")], SWEPT, METRICS, points=runs)
    verdicts = evaluate(bounds, runs, SWEPT)
    assert [v.point for v in verdicts] == ["workload.clients=64", "workload.clients=8"]
    assert [v.bound for v in verdicts] == ["jitter is cheaper: calls: full-jitter <= expo"] * 2
    only8 = parse_bounds([compare("a <= b", where={"workload.clients": 8})], SWEPT, METRICS, points=runs)
    assert [v.point for v in evaluate(only8, runs, SWEPT)] == ["workload.clients=8"]


def test_compare_by_another_swept_key_pairs_its_values_per_point_of_the_rest() -> None:
    # 8 clients cost 100 calls per replication less than 64, whichever policy: paired by replication
    rng = np.random.default_rng(9)
    base = {p: rng.normal(1000.0, 200.0, size=6) for p in ("expo", "full-jitter")}
    runs = runs_for({(c, p): {"calls": list(base[p] - (100.0 if c == 8 else 0.0) + rng.normal(0, 2, 6))}
                     for c in (8, 64) for p in ("expo", "full-jitter")})
    entry = {"compare": {"by": "workload.clients", "a": 8, "b": 64, "metric": "calls", "expect": "a < b"}}
    bounds = parse_bounds([entry, {**entry, "compare": {**entry["compare"], "expect": "a > b"}}], SWEPT, METRICS,
                          points=runs)
    less = evaluate(bounds[:1], runs, SWEPT)
    assert [(v.bound, v.point, v.verdict, v.n) for v in less] == [
        ("calls: workload.clients=8 < workload.clients=64", "policy=expo", "holds", 6),
        ("calls: workload.clients=8 < workload.clients=64", "policy=full-jitter", "holds", 6)]
    assert less[0].estimate == pytest.approx(-100.0, abs=3.0)
    assert [v.verdict for v in evaluate(bounds[1:], runs, SWEPT)] == ["fails", "fails"]
    # a boolean key (network.pipelining = [true, false]) compares by its values; CSV text matches too
    flags = [r | {"workload.clients": r["workload.clients"] == 8} for r in runs]
    [b] = parse_bounds([{"compare": {"by": "workload.clients", "a": True, "b": False, "metric": "calls",
                                     "expect": "a < b"}}], SWEPT, METRICS, points=flags)
    as_text = [r | {"workload.clients": str(r["workload.clients"])} for r in flags]
    assert [v.verdict for v in evaluate([b], as_text, SWEPT)] == ["holds", "holds"]


def test_compare_notes_unpaired_runs_and_missing_pairs() -> None:
    runs = crn_runs(np.random.default_rng(3))
    del runs[-1]  # expo's last replication
    [v] = evaluate(parse_bounds([compare("a < b")], SWEPT, METRICS), runs, SWEPT)
    assert (v.verdict, v.n, v.note) == ("holds", 9, "1 unpaired runs ignored")
    only_a = [r for r in runs if r["policy"] == "full-jitter"]
    [v] = evaluate(parse_bounds([compare("a < b")], SWEPT, METRICS), only_a, SWEPT)
    assert (v.verdict, v.n, v.note) == ("inconclusive", 0, "no replication has both full-jitter and expo")


def test_where_selects_points_numerically_and_without_where_all_points() -> None:
    runs = runs_for({(64, "expo"): {"throughput": [600.0, 610.0]}, (8, "expo"): {"throughput": [90.0, 95.0]}})
    [v] = evaluate(parse_bounds([{"where": {"workload.clients": 64.0}, "throughput": "> 500"}], SWEPT, METRICS,
                                points=runs), runs, SWEPT)
    assert (v.point, v.verdict) == ("workload.clients=64 policy=expo", "holds")
    everywhere = evaluate(parse_bounds([{"throughput": "> 500"}], SWEPT, METRICS), runs, SWEPT)
    assert [v.verdict for v in everywhere] == ["holds", "fails"]
    assert not all_hold(everywhere) and all_hold(everywhere[:1]) and all_hold([])


def test_where_matching_no_run_is_an_error_at_evaluation() -> None:
    runs = runs_for({(64, "expo"): {"throughput": [600.0, 610.0]}})
    bounds = parse_bounds([{"where": {"policy": "fdb"}, "throughput": "> 500"}], SWEPT, METRICS)  # no points: unchecked
    with pytest.raises(BoundsError, match=r"bounds\[0\]\.where: .*'fdb'.* matches no run"):
        evaluate(bounds, runs, SWEPT)


POINTS = runs_for({(8, "expo"): {"p99_ms": [1.0]}, (64, "full-jitter"): {"p99_ms": [1.0]}})


@pytest.mark.parametrize(
    "entry, expected",
    [
        ({"p99": "< 250"}, ["bounds[1].p99:", "unknown metric", "'< 250'", "throughput, p99_ms"]),
        ({"p99_ms": "=< 250"}, ["bounds[1].p99_ms:", "'=< 250'", "<, <=, > or >= followed by a number"]),
        ({"p99_ms": "< fast"}, ["bounds[1].p99_ms:", "'fast'", "not a finite number"]),
        ({"p99_ms": "< nan"}, ["bounds[1].p99_ms:", "'nan'", "not a finite number"]),
        ({"p99_ms": 250}, ["bounds[1].p99_ms:", "250 is not a limit", 'e.g. "< 250"']),
        ({"where": {"clients": 64}, "p99_ms": "< 1"},
         ["bounds[1].where.clients:", "not a swept key", "64", "allowed: workload.clients, policy"]),
        ({"where": {"workload.clients": 65}, "p99_ms": "< 1"},
         ['bounds[1].where."workload.clients":', "65 matches no point", "swept values: 8, 64"]),
        ({"where": {"workload.clients": 8, "policy": "full-jitter"}, "p99_ms": "< 1"},
         ["bounds[1].where:", "matches no point"]),
        ({"where": "clients=64", "p99_ms": "< 1"}, ["bounds[1].where:", "'clients=64'", "expected a table"]),
        ({"name": 3, "p99_ms": "< 1"}, ["bounds[1].name:", "3", "expected a label"]),
        ({"where": {"policy": "expo"}}, ["bounds[1]:", "states no limit"]),
        (compare("a < b", p99_ms="< 1"), ["bounds[1]:", "both compare and metric limits"]),
        ({"compare": {"a": "jitter", "b": "expo", "metric": "calls", "expect": "a < b"}},
         ["bounds[1].compare.a:", "'jitter'", "expo, full-jitter"]),
        ({"compare": {"a": "expo", "b": "expo", "metric": "calls", "expect": "a < b"}},
         ["bounds[1].compare.b:", "same policy"]),
        ({"compare": {"a": "full-jitter", "b": "expo", "metric": "cals", "expect": "a < b"}},
         ["bounds[1].compare.metric:", "'cals'", "throughput, p99_ms, calls, mean_ms"]),
        ({"compare": {"a": "full-jitter", "b": "expo", "metric": "calls", "expect": "a << b"}},
         ["bounds[1].compare.expect:", "'a << b'", "a < b, a <= b, a > b, a >= b"]),
        ({"compare": {"a": "full-jitter", "b": "expo", "metric": "calls"}},
         ["bounds[1].compare.expect:", "missing", "a, b, metric, expect"]),
        ({"compare": {"a": "full-jitter", "b": "expo", "metric": "calls", "expect": "a<b", "on": 1}},
         ["bounds[1].compare.on:", "unknown key", "a, b, metric, expect, by"]),
        ({"compare": {"a": 8, "b": 64, "metric": "calls", "expect": "a<b", "by": "clients"}},
         ["bounds[1].compare.by:", "'clients'", "not a swept key", "workload.clients, policy"]),
        ({"compare": {"a": 8, "b": 65, "metric": "calls", "expect": "a<b", "by": "workload.clients"}},
         ["bounds[1].compare.b:", "65", "a swept value of workload.clients", "one of: 8, 64"]),
        ({"compare": {"a": 8, "b": 8.0, "metric": "calls", "expect": "a<b", "by": "workload.clients"}},
         ["bounds[1].compare.b:", "same value as a"]),
        ({"compare": {"a": 8, "b": 64, "metric": "calls", "expect": "a<b", "by": "workload.clients"},
          "where": {"workload.clients": 8}}, ['bounds[1].where."workload.clients":', "compare.a and compare.b"]),
        (compare("a < b", where={"policy": "expo"}), ["bounds[1].where.policy:", "'expo'", "compare.a"]),
    ],
)
def test_parse_errors_name_key_value_and_what_is_allowed(entry: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(BoundsError) as err:
        parse_bounds([{"p99_ms": "< 1"}, entry], SWEPT, METRICS, points=POINTS)
    for part in expected:
        assert part in str(err.value)


def test_compare_needs_a_swept_policy() -> None:
    with pytest.raises(BoundsError, match=r"bounds\[0\]\.compare: .*does not vary policy"):
        parse_bounds([compare("a < b")], ["workload.clients"], METRICS)


def test_limits_accept_spacing_and_expect_any_spacing() -> None:
    [b] = parse_bounds([{"p99_ms": "<=1.5e3", "throughput": " >  500 "}], SWEPT, METRICS)
    assert [lim.text for lim in b.limits] == ["p99_ms <= 1500", "throughput > 500"]
    [c] = parse_bounds([compare(" a>=b ")], SWEPT, METRICS)
    assert c.compare is not None and c.compare.op == ">="


def test_render_is_a_plain_table_and_keeps_brackets() -> None:
    runs = runs_for({(64, "expo[10ms]"): {"p99_ms": [200.0, 210.0, 190.0]}})
    text = render(evaluate(parse_bounds([{"name": "tail", "p99_ms": "< 250"}], SWEPT, METRICS), runs, SWEPT))
    assert "\x1b" not in text
    header, _, row = text.splitlines()
    assert header.split() == ["bound", "point", "estimate", "95", "%", "interval", "n", "verdict", "success",
                              "rate", "note"]
    assert "tail: p99_ms < 250" in row and "policy=expo[10ms]" in row and "[175.2, 224.8]" in row
    assert row.split()[-3:] == ["3", "holds", "-"]          # no success_rate in these runs


def test_assert_bounds_passes_quietly_and_fails_with_the_table(tmp_path: Path) -> None:
    runs = runs_for({(64, "full-jitter"): {"p99_ms": [200.0, 210.0, 190.0], "throughput": [450.0, 520.0, 480.0]}})
    bounds = [{"where": {"policy": "full-jitter", "workload.clients": 64}, "p99_ms": "< 250", "throughput": "> 500"}]
    with pytest.raises(AssertionError) as err:
        assert_bounds(runs, bounds, SWEPT)
    message = str(err.value)
    assert message.startswith("1 of 2 bound checks do not hold:\n")
    assert "throughput > 500" in message and "inconclusive" in message and "replications would likely" in message
    assert "p99_ms < 250" not in message  # only what does not hold is shown

    path = tmp_path / "runs.csv"
    write_csv(path, list(runs[0]), runs)
    [v] = assert_bounds(path, [{"p99_ms": "< 250"}], SWEPT)
    assert v.verdict == "holds"
    with pytest.raises(BoundsError, match="unknown metric"):
        assert_bounds(path, [{"seed": "< 8"}], SWEPT)


def test_latency_verdicts_carry_the_success_rate_and_flag_a_low_one() -> None:
    runs = runs_for({(64, "immediate"): {"p99_ms": [10.0, 11.0, 12.0], "success_rate": [0.70, 0.71, 0.72],
                                         "throughput": [5.0, 5.0, 5.0]},
                     (64, "expo"): {"p99_ms": [50.0, 51.0, 52.0], "success_rate": [1.0, 1.0, 1.0],
                                    "throughput": [9.0, 9.0, 9.0]}})
    bounds = parse_bounds([{"p99_ms": "< 100"}, {"throughput": "> 1"},
                           {"compare": {"metric": "p99_ms", "a": "immediate", "b": "expo", "expect": "a < b"}}],
                          SWEPT, METRICS + ["success_rate"], points=runs)
    latency_imm, latency_expo, tput_imm, tput_expo, paired = evaluate(bounds, runs, SWEPT)
    assert latency_imm.success == "0.710 (< 0.99!)" and latency_expo.success == "1.000"
    assert tput_imm.success == "" and tput_expo.success == ""        # not a latency: nothing beside it
    assert paired.success == "immediate 0.710 (< 0.99!), expo 1.000"
    text = render([latency_imm, tput_imm])
    assert "success rate" in text and "0.710 (< 0.99!)" in text
    assert "success rate" not in render([tput_imm])
