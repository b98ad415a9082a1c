"""Real clients against real stores: the model's policies, key streams and measurement, for real.

Each test runs a small experiment through `run_experiment` against the session's Redis or
PostgreSQL server (tests/servers.py) and checks what must hold exactly whatever the timing:
which keys were written (the model's streams), how the policy bounds the attempts, that the
population is the operations started in the window, and that the files are the model's."""
from collections import Counter

import pytest

from occmodel.backends import plan
from occmodel.backends.real import Job, check_scenario
from occmodel.backends import backend
from occmodel.backends.url import parse_url
from occmodel.client import block_size
from occmodel.errors import ConfigError
from occmodel.experiment import load_experiment, run_experiment
from occmodel.metrics import METRICS
from occmodel.streams import random_stream
from occmodel.results import read_csv, read_json
from occmodel.workload import key_sampler

import redis


def experiment(**scenario):
    base = {"workload": {"kind": "closed", "clients": 4, "keys": {"count": 2}},
            "store": {"commit": {"service": "100us"}},
            "policy": {"kind": "jitter", "base": "1ms", "cap": "10ms", "max_attempts": 0}}
    for table, value in scenario.items():      # a policy is replaced whole, other tables updated
        base[table] = value if table == "policy" else {**base.get(table, {}), **value}
    return {"experiment": {"name": "real", "seed": 5, "replications": 1, "duration": "0.3s", "warmup": "0.05s",
                           "bin": "0.1s"}, "scenario": base}


def run(raw, url, tmp_path, processes=None):
    exp = load_experiment(raw)
    store = plan(url, exp, processes)
    runs = run_experiment(exp, tmp_path, store=store)
    return exp, store, runs


def model_keys(seed, replication, cid, clients, keys_table, n):
    from occmodel.config import KeyChoice

    draw = key_sampler(KeyChoice(**keys_table), random_stream(seed, replication, "keys", cid), 1, block_size(clients),
                       (cid, clients))
    return [draw()[0] for _ in range(n)]


@pytest.mark.parametrize("store", ["redis", "postgresql"])
def test_batch_writes_exactly_the_keys_the_model_draws(store, redis_url, postgres_url, tmp_path):
    """Unlimited immediate retries: every operation succeeds once, so each key's final version is
    the number of times the clients' key streams (the model's, by seed, replication, client) chose it."""
    url = redis_url if store == "redis" else postgres_url
    keys = {"count": 5, "choice": "zipf", "s": 1.2}
    raw = experiment(workload={"kind": "batch", "clients": 3, "ops_per_client": 40, "keys": keys},
                     policy={"kind": "immediate", "max_attempts": 0})
    _, _, runs = run(raw, url, tmp_path)
    expected = Counter()
    for cid in range(3):
        expected.update(model_keys(5, 0, cid, 3, keys, 40))
    assert final_versions(url, 5) == [expected[k] for k in range(5)]
    r = runs[0]
    assert r["successes"] == r["operations"] == 120 and r["success_rate"] == 1.0
    assert r["calls"] >= 120 and r["attempts_per_op"] == r["calls"] / 120
    assert r["makespan_s"] > 0 and r["censored"] == 0


def final_versions(url, count):
    if url.startswith("redis"):
        with redis.Redis.from_url(url) as r:
            return [int(v or 0) for v in r.mget([f"occmodel:{k}" for k in range(count)])]
    import psycopg

    with psycopg.connect(url) as conn:
        rows = dict(conn.execute("SELECT stream, max(version) FROM occmodel_events GROUP BY stream").fetchall())
    return [rows.get(k, 0) for k in range(count)]


def test_no_retry_policy_makes_one_attempt_per_operation(redis_url, tmp_path):
    raw = experiment(workload={"clients": 6, "keys": {"count": 1}}, policy={"kind": "none"})
    _, _, runs = run(raw, redis_url, tmp_path)
    r = runs[0]
    assert r["attempts_per_op"] == 1.0
    assert r["operations"] == r["successes"] + r["gave_up"]        # population by start, all finished
    assert r["gave_up"] > 0 and r["conflict_rate"] == pytest.approx(r["gave_up"] / r["operations"])
    assert r["censored"] == 0 and r["all_p99_ms"] >= 0


def test_max_attempts_bounds_every_operation(postgres_url, tmp_path):
    raw = experiment(workload={"clients": 6, "keys": {"count": 1}}, policy={"kind": "immediate", "max_attempts": 3})
    exp, _, runs = run(raw, postgres_url, tmp_path)
    r = runs[0]
    assert 1 < r["attempts_per_op"] <= 3
    assert r["success_rate"] < 1 and r["gave_up"] == r["operations"] - r["successes"]


def test_a_breaker_rejects_retries_as_in_the_model(redis_url, tmp_path):
    """A breaker that counts conflicts as failures (threshold 1, retries blocked while open)
    refuses retries: operations end `rejected`, as a model run's would."""
    raw = experiment(workload={"clients": 6, "keys": {"count": 1}},
                     policy={"kind": "circuit_breaker", "failures": ["conflict"], "threshold": 1, "cooldown": "50ms",
                             "blocks": "retries", "inner": {"kind": "immediate", "max_attempts": 0}})
    _, _, runs = run(raw, redis_url, tmp_path)
    r = runs[0]
    assert r["rejected"] > 0 and r["breaker_transitions"] > 0
    assert r["operations"] == r["successes"] + r["rejected"] + r["gave_up"]


def test_the_files_are_the_models_with_the_backend_in_the_manifest(postgres_url, tmp_path):
    raw = experiment()
    raw["sweep"] = {"workload.clients": [1, 2]}
    exp, store, runs = run(raw, postgres_url, tmp_path)
    assert list(read_csv(tmp_path / "runs.csv")[0]) == ["workload.clients", "replication", "seed", *METRICS]
    assert {"n", "throughput_ci95"} <= set(read_csv(tmp_path / "summary.csv")[0])
    manifest = read_json(tmp_path / "manifest.json")
    assert manifest["backend"] == "postgresql" and manifest["store"]["url"] == parse_url(postgres_url).shown
    assert manifest["store"]["replaced_by_the_store"] == ["store.commit"]
    diag = read_csv(tmp_path / "diagnostics.csv")
    assert [d["workload.clients"] for d in diag] == [1, 2] and all(d["client_cpu"] > 0 for d in diag)
    for r in runs:     # the window is measured: operations that started in it, at the store's pace
        assert r["throughput"] > 0 and r["operations"] > 0 and r["store_utilization"] != r["store_utilization"]


def test_a_global_policy_runs_its_clients_in_one_process(redis_url):
    raw = experiment(policy={"kind": "circuit_breaker", "scope": "global"})
    store = plan(redis_url, load_experiment(raw))
    assert store.processes == 1 and any("global" in n for n in store.notes)


@pytest.mark.parametrize("edits,key", [
    ({"store": {"faults": [{"kind": "down", "start": "1s", "end": "2s"}]}}, "scenario.store.faults"),
    ({"network": {"loss": 0.1}, "operation": {"timeout": "5ms"}}, "scenario.network.loss"),
    ({"operation": {"timeout": "5ms"}}, "scenario.operation.timeout"),
    ({"policy": {"kind": "jitter", "deadline": "1s"}}, "scenario.policy.deadline"),
    ({"policy": {"kind": "circuit_breaker", "inner": {"kind": "jitter", "deadline": "1s"}}}, "scenario.policy.deadline"),
    ({"workload": {"kind": "open", "rate": 10.0}}, "scenario.workload.kind"),
    ({"policy": {"kind": "hedge", "max_attempts": 2}}, "scenario.policy.kind"),
    ({"workload": {"clients": 5000}}, "scenario.workload.clients"),
    ({"operation": {"kind": "reload"}}, "scenario.operation.kind"),
    ({"operation": {"kind": "append", "reads": 2, "writes": 1}}, None),
])
def test_what_a_real_store_cannot_honour_is_refused(edits, key):
    raw = experiment(**edits)
    if key is None:       # reads > writes is fine on Redis's expected_version, refused as read_set on PostgreSQL
        raw["scenario"]["workload"]["keys"] = {"count": 2}
        raw["scenario"]["store"]["conflict"] = "read_set"
        scenario = load_experiment(raw).points[0].scenario
        assert check_scenario(scenario, backend(parse_url("redis://127.0.0.1"))) == ["store.commit"]
        with pytest.raises(ConfigError) as err:
            check_scenario(scenario, backend(parse_url("postgresql://x@127.0.0.1/db")))
        assert err.value.path == "scenario.store.conflict"
        return
    with pytest.raises(ConfigError) as err:
        check_scenario(load_experiment(raw).points[0].scenario, backend(parse_url("redis://127.0.0.1")))
    assert err.value.path == key


def test_a_job_window_is_the_models():
    scenario = load_experiment(experiment()).points[0].scenario
    assert Job(scenario, 1, 0, 2.0, 0.5, 0.1, 1.0, 10.0).window() == (0.5, 2.5)


def toml_config(path, clients):
    path.write_text(f'''[experiment]
name = "dies"
seed = 2
duration = "0.4s"
warmup = "0.05s"
bin = "0.1s"
[scenario.workload]
kind = "closed"
clients = 2
keys = {{count = 2}}
[scenario.store]
commit = {{service = "100us"}}
[scenario.policy]
kind = "jitter"
base = "1ms"
max_attempts = 0
[sweep]
"workload.clients" = {clients}
''')


@pytest.mark.parametrize("kind", ["redis", "postgresql"])
def test_a_store_dying_mid_sweep_is_one_message_and_keeps_finished_runs(kind, tmp_path):
    """The server is killed (SIGKILL) once the first run is saved: exit 2, one line naming the store
    and the run, no traceback; the finished run stays, and the same command against a new server
    resumes from it."""
    import threading
    import time

    from click.testing import CliRunner

    from occmodel.cli import main
    from servers import postgres_server, redis_server

    start = redis_server if kind == "redis" else postgres_server
    config, out = tmp_path / "c.toml", tmp_path / "out"
    toml_config(config, [1, 2, 3, 4])
    first = out / "runs" / "p0000-r000.json"
    with start() as server:
        def kill_after_first_run():
            deadline = time.monotonic() + 60
            while not first.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            server.kill()

        killer = threading.Thread(target=kill_after_first_run)
        killer.start()
        result = CliRunner().invoke(main, ["run", str(config), "--store", server.url, "--out", str(out), "--no-plots"])
        killer.join()
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output
    message = [line for line in result.output.splitlines() if line.startswith("occmodel: error:")]
    print(message)
    assert len(message) == 1 and f"--store {kind}://" in message[0], result.output
    assert "failed" in message[0] or "stopped answering" in message[0], result.output
    assert first.exists()
    kept = first.stat().st_mtime_ns
    with start() as server:
        result = CliRunner().invoke(main, ["run", str(config), "--store", server.url, "--out", str(out), "--no-plots"])
    assert result.exit_code == 0, result.output
    assert first.stat().st_mtime_ns == kept
    assert [r["workload.clients"] for r in read_csv(out / "summary.csv")] == [1, 2, 3, 4]


def test_model_results_are_not_mixed_with_measured_ones(redis_url, tmp_path):
    from click.testing import CliRunner

    from occmodel.cli import main

    config, out = tmp_path / "c.toml", tmp_path / "out"
    toml_config(config, [1])
    assert CliRunner().invoke(main, ["run", str(config), "--out", str(out), "--no-plots", "--workers", "1"]).exit_code == 0
    result = CliRunner().invoke(main, ["run", str(config), "--store", redis_url, "--out", str(out), "--no-plots"])
    assert result.exit_code == 2 and "measured on 'model', not on 'redis'" in result.output
    assert read_json(out / "manifest.json")["backend"] == "model"


def test_replications_until_precise_against_a_store(redis_url, tmp_path):
    """`replications = "auto"` drives measured runs too: the rule replayed over the saved runs gives
    each point's recorded n, and the manifest says so."""
    from occmodel.experiment import saved_metrics
    from occmodel.precision import decide

    raw = experiment()
    raw["experiment"].update(replications="auto", precision={"metrics": ["throughput"], "relative": 0.5, "min": 2,
                                                             "max": 4, "lookahead": 1})
    exp, _, runs = run(raw, redis_url, tmp_path, processes=1)
    [entry] = read_json(tmp_path / "manifest.json")["precision"]["points"]
    d = decide(exp.settings.precision.rule(), saved_metrics(tmp_path, 0))
    assert (entry["n"], entry["reached"]) == (d.n, d.reached) and len(runs) == d.n >= 3
    assert read_json(tmp_path / "manifest.json")["backend"] == "redis"
