"""Fidelity: occmodel configured as published studies' models reproduces their results.

Each test runs a shipped `experiments/validation/*.toml` (with fewer replications or shorter runs
where the full size would not fit CI) and checks the published numbers or shapes. The full-size
numbers are in docs/validation.md.
"""
import math
from pathlib import Path

import pytest
from scipy import stats

from occmodel.experiment import load_experiment, run_experiment
from occmodel.results import read_csv
from oracles import mm1_response, mmc_response

pytestmark = pytest.mark.slow
VALIDATION = Path(__file__).parent.parent / "experiments" / "validation"
CURATED = Path(__file__).parent.parent / "results" / "curated"


def run(name, tmp_path, **overrides):
    import tomllib

    raw = tomllib.loads((VALIDATION / f"{name}.toml").read_text())
    for dotted, value in overrides.items():
        table, key = dotted.split("__", 1)
        raw[table][key.replace("__", ".")] = value
    exp = load_experiment(raw)
    runs = run_experiment(exp, tmp_path, workers=2)
    return exp, runs, read_csv(tmp_path / "summary.csv")


@pytest.mark.parametrize("name,servers,oracle", [("mm1", 1, lambda lam: mm1_response(lam, 1.0)),
                                                 ("mmc", 4, lambda lam: mmc_response(lam, 1.0, 4))])
def test_queueing_oracles(tmp_path, name, servers, oracle):
    rates = [0.1 * servers, 0.5 * servers, 0.8 * servers]
    _, runs, summary = run(name, tmp_path, experiment__replications=3, experiment__duration="30000s",
                           sweep__workload__rate=rates)
    for row in summary:
        lam = row["workload.rate"]
        theory = oracle(lam)
        assert abs(row["mean_ms"] / 1e3 - theory) <= max(3 * row["mean_ms_ci95"] / 1e3, 0.03 * theory), row
        assert row["store_utilization"] == pytest.approx(lam / servers, rel=0.03)
    for r in runs:   # Little's law on every run's own numbers
        assert r["concurrency"] == pytest.approx(r["throughput"] * r["mean_ms"] / 1e3, rel=0.01)


def test_aws_backoff_and_jitter_shapes(tmp_path):
    _, _, summary = run("aws-backoff", tmp_path, experiment__replications=20, experiment__seed=7,
                        sweep__workload__clients=[50, 100])
    at = {(r["workload.clients"], r["policy"]): r for r in summary}
    full = {(r["workload.clients"], r["policy"]): r
            for r in read_csv(CURATED / "validation-aws-backoff" / "summary.csv")}
    for k, row in at.items():                  # the curated full grid (100 trials), within replication noise
        for metric in ("calls", "makespan_s"):
            agree(row, full[k], metric)
    calls = lambda n, p: at[(n, p)]["calls"]
    done = lambda n, p: at[(n, p)]["makespan_s"]
    # work grows about quadratically without jitter
    assert calls(100, "no backoff") / calls(50, "no backoff") > 3
    # un-jittered exponential finishes far later than no backoff at all
    assert done(100, "exponential") > 5 * done(100, "no backoff")
    # full jitter does less than half the work of exponential at 100 clients
    assert calls(100, "full jitter") < 0.5 * calls(100, "exponential")
    # the blog's ranking among jittered schedules at 100 clients: equal jitter does more work and takes
    # longer than full jitter; decorrelated does more work than full jitter
    assert calls(100, "equal jitter") > calls(100, "full jitter") and done(100, "equal jitter") > done(100, "full jitter")
    assert calls(100, "decorrelated") > calls(100, "full jitter")


def se(row, metric):
    """Standard error of a summary cell, from its 95 % half-width over row["n"] replications."""
    return row[f"{metric}_ci95"] / stats.t.ppf(0.975, row["n"] - 1)


def agree(reduced, full, metric, k=4.0):
    """The reduced run (own seed) and the curated full run differ by at most k standard errors of
    the difference: replication noise, not point equality."""
    assert abs(reduced[metric] - full[metric]) <= k * math.hypot(se(reduced, metric), se(full, metric)) + 1e-9, \
        (metric, reduced[metric], full[metric])


def test_retry_limiters_2022_first_table(tmp_path):
    ps = [0.05, 0.2, 0.5]
    _, _, summary = run("amplification", tmp_path, experiment__replications=3, experiment__seed=7,
                        sweep__store__faults__0__probability=ps)
    at = {(r["store.faults.0.probability"], r["policy"]): r for r in summary}
    full = {(r["store.faults.0.probability"], r["policy"]): r
            for r in read_csv(CURATED / "validation-amplification" / "summary.csv")}
    for p in ps:
        none, retries = at[(p, "no retries")], at[(p, "3 retries")]
        ops = none["operations"] * none["n"]              # operations over the replications
        assert none["attempts_per_op"] == 1
        assert abs(none["success_rate"] - (1 - p)) <= 4 * math.sqrt(p * (1 - p) / ops)   # binomial noise
        assert abs(retries["success_rate"] - (1 - p**4)) <= 4 * math.sqrt(p**4 * (1 - p**4) / ops) + 1e-9
        assert abs(retries["attempts_per_op"] - (1 + p + p**2 + p**3)) <= 4 * se(retries, "attempts_per_op") + 1e-3
        for name in ("token bucket", "breaker"):
            for metric in ("success_rate", "attempts_per_op"):
                agree(at[(p, name)], full[(p, name)], metric)
    # the study's ranking: at frequent failures the breaker adds less load than the bucket, whose
    # amplification stays near 1 + 0.1 per operation + the initial 4 spare tokens per 100 operations
    for p in (0.2, 0.5):
        bucket, breaker = at[(p, "token bucket")], at[(p, "breaker")]
        assert breaker["attempts_per_op"] + 4 * se(breaker, "attempts_per_op") < \
            bucket["attempts_per_op"] - 4 * se(bucket, "attempts_per_op")
        assert bucket["attempts_per_op"] == pytest.approx(1.14, abs=0.01)


def test_retry_limiters_2022_client_count(tmp_path):
    ps, clients = [0.1, 0.5], [10, 1000]
    _, _, summary = run("amplification-clients", tmp_path, experiment__replications=5, experiment__seed=7,
                        sweep__store__faults__0__probability=ps, sweep__workload__clients=clients)
    key = lambda r: (r["store.faults.0.probability"], r["workload.clients"], r["policy"])
    at = {key(r): r for r in summary}
    full = {key(r): r for r in read_csv(CURATED / "validation-amplification-clients" / "summary.csv")}
    for k, row in at.items():
        for metric in ("success_rate", "attempts_per_op"):
            agree(row, full[k], metric)
    # the study's point: with many small clients the bucket (starting full) behaves more like plain
    # retries (more load) and the breaker more like no retries (less load)
    few, many = at[(0.5, 10, "token bucket")], at[(0.5, 1000, "token bucket")]
    assert many["attempts_per_op"] - 4 * se(many, "attempts_per_op") > few["attempts_per_op"] + 4 * se(few, "attempts_per_op")
    few, many = at[(0.1, 10, "breaker")], at[(0.1, 1000, "breaker")]
    assert many["attempts_per_op"] + 4 * se(many, "attempts_per_op") < few["attempts_per_op"] - 4 * se(few, "attempts_per_op")


def same_share(reduced, full, metric="collapsed", k=4.0):
    """Two binomial shares (replications that collapsed) agree within k standard errors of their
    difference; the pooled share is kept off 0 and 1 by half a replication, so that 0 of 20 and 0
    of 10 leave room for chance."""
    n1, n2 = reduced["n"], full["n"]
    q = min(max((reduced[metric] * n1 + full[metric] * n2) / (n1 + n2), 0.5 / (n1 + n2)), 1 - 0.5 / (n1 + n2))
    assert abs(reduced[metric] - full[metric]) <= k * math.sqrt(q * (1 - q) * (1 / n1 + 1 / n2)), \
        (metric, reduced[metric], full[metric])


def test_collapse_after_a_spike_2023(tmp_path):
    spikes = ["25s", "28s"]
    _, _, summary = run("metastable", tmp_path, experiment__replications=10, experiment__seed=11,
                        sweep__workload__schedule__1__until=spikes)
    key = lambda r: (r["workload.schedule.1.until"], r["policy"])
    at = {key(r): r for r in summary}
    full = {key(r): r for r in read_csv(CURATED / "validation-metastable" / "summary.csv")}
    for k, row in at.items():
        same_share(row, full[k])
    study, none = "jitter U(0,20 s), U(0,40 s)", "no backoff"
    assert at[("28s", none)]["collapsed"] >= 0.8                  # an 8 s spike without backoff: (nearly) always
    assert at[("25s", study)]["collapsed"] == 0                   # the study's backoff: 5 s spikes recover
    # after a spike, the study's backoff sends fewer attempts per operation than none at all
    assert at[("25s", study)]["attempts_per_op"] + 4 * se(at[("25s", study)], "attempts_per_op") < \
        at[("25s", none)]["attempts_per_op"] - 4 * se(at[("25s", none)], "attempts_per_op")


def test_collapse_under_a_ramp_2023(tmp_path):
    _, _, summary = run("metastable-ramp", tmp_path, experiment__replications=10, experiment__seed=11)
    at = {r["policy"]: r for r in summary}
    full = {r["policy"]: r for r in read_csv(CURATED / "validation-metastable-ramp" / "summary.csv")}
    for policy, row in at.items():
        same_share(row, full[policy])
        agree(row, full[policy], "attempts_per_op")
        assert row["collapsed"] >= 0.8                            # backoff or not, the ramp tips it over
