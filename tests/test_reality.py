"""The calibrated model against a real store (docs/validation.md, "Model against reality"), kept.

For each store: start a server (tests/servers.py), calibrate it, run a smaller sweep of the
shipped experiments/reality-<store>.toml (1, 4 and 16 clients, the three patterns) on the model
and against the store, and check what the curated comparison showed, with tolerances from its
measured noise:

- one client (no conflicts): the model's median operation is the calibrated read + commit; the
  measured one moves with the machine's load (observed on Redis: +12 % on a quiet machine, 2.79
  times the model's with another simulation and the CI suite sharing the 2 cores; on PostgreSQL,
  whose commit waits for a disk flush, 0.39 to 1.92 times the model's in three identical runs);
  allowed: measured/model in [0.5, 4] on Redis, [0.25, 4] on PostgreSQL;
- conflicts per attempt with no backoff and with the breaker: the model's logic is the real
  clients' (same policies, same key streams), so the two agree within both 95 % intervals plus
  0.12 (the largest disagreement observed at these points, 0.07, plus margin for a shared machine);
- attempts per operation with no backoff: within the intervals plus 25 % of the measured value;
- where they disagree (the doc's explanation, measured there): the model's throughput grows with
  the clients, the measured one does not keep up (the client machine's 2 cores run the clients and
  the store), so from 1 to 16 clients the model's throughput grows at least 1.3 times as much
  (how much more depends on the machine's other load: Redis 6.9× against 0.51× in the curated run
  on a busy machine, 5.41× against 3.07× in a CI run on a quieter one, where an earlier bound of
  2 failed).
"""
import math
import tomllib
from pathlib import Path

import pytest

from occmodel.backends import backend, parse_url, plan
from occmodel.backends.calibrate import calibrate
from occmodel.experiment import load_experiment, run_experiment
from occmodel.results import read_csv

pytestmark = pytest.mark.slow
EXPERIMENTS = Path(__file__).parent.parent / "experiments"


def summary(directory):
    return {(r["workload.clients"], r["policy"]): r for r in read_csv(directory / "summary.csv")}


def interval(row, metric):
    ci = row.get(f"{metric}_ci95")
    return row[metric], 0.0 if ci is None or ci != ci else ci


@pytest.mark.parametrize("kind,name", [("redis", "reality-redis"), ("postgresql", "reality-postgres")])
def test_the_calibrated_model_against_the_store(kind, name, tmp_path):
    from servers import postgres_server, redis_server

    raw = tomllib.loads((EXPERIMENTS / f"{name}.toml").read_text())
    raw["sweep"]["workload.clients"] = [1, 4, 16]
    raw["experiment"].update({"duration": "1s", "replications": 3})
    with (redis_server if kind == "redis" else postgres_server)() as server:
        cal = tmp_path / "cal"
        calibrate(backend(parse_url(server.url)), cal, samples=2000)
        for side in ("read", "commit"):
            raw["scenario"]["store"][side]["service"]["csv"] = str(cal / f"{side}.csv")
        exp = load_experiment(raw)
        run_experiment(exp, tmp_path / "model", workers=1)
        run_experiment(exp, tmp_path / "measured", store=plan(server.url, exp))
    model, measured = summary(tmp_path / "model"), summary(tmp_path / "measured")

    low, high = (0.5, 4.0) if kind == "redis" else (0.25, 4.0)
    for policy in ("no backoff", "full jitter", "breaker"):
        ratio = measured[(1, policy)]["p50_ms"] / model[(1, policy)]["p50_ms"]
        assert low <= ratio <= high, (policy, ratio)
    for clients in (4, 16):
        for policy in ("no backoff", "breaker"):
            (a, ea), (b, eb) = interval(model[(clients, policy)], "conflict_rate"), \
                interval(measured[(clients, policy)], "conflict_rate")
            assert abs(a - b) <= ea + eb + 0.12, (clients, policy, a, b)
        (a, ea), (b, eb) = interval(model[(clients, "no backoff")], "attempts_per_op"), \
            interval(measured[(clients, "no backoff")], "attempts_per_op")
        assert abs(a - b) <= ea + eb + 0.25 * b, (clients, a, b)
    grow = lambda s: s[(16, "no backoff")]["throughput"] / s[(1, "no backoff")]["throughput"]   # noqa: E731
    assert grow(model) >= 1.3 * grow(measured) and math.isfinite(grow(measured)), (grow(model), grow(measured))
