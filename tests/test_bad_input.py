"""Bad input through the CLI, as a careful user would try it (issue 13): a table of cases.

Each case is one edit of a small valid config (a dotted key set to a bad value, or removed), a
broken file, or bad command-line arguments. Every one must end within a time limit with exit
status 2, one message naming the key (no traceback), and nothing written: no results directory.
In-process through click's CliRunner, so the whole table takes seconds.
"""
from __future__ import annotations

import copy
import math
import signal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from occmodel.cli import main

BASE: dict[str, Any] = {
    "experiment": {"name": "bad", "seed": 1, "replications": 1, "duration": "0.2s", "bin": "0.1s"},
    "scenario": {"workload": {"kind": "closed", "clients": 2, "think": "1ms", "keys": {"count": 4}},
                 "network": {"one_way": "1ms"},
                 "store": {"commit": {"capacity": 1, "service": "1ms"}},
                 "operation": {"kind": "append"},
                 "policy": {"kind": "jitter", "base": "5ms"}},
}
DELETE = object()
LIMIT_S = 20


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f'"{k}" = {toml_value(x)}' for k, x in v.items()) + "}"


def toml(config: dict[str, Any]) -> str:
    """Tables as inline values under their top-level header: enough for these configs."""
    lines = [f"{table} = {toml_value(body)}" for table, body in config.items() if not isinstance(body, dict)]
    for table, body in config.items():
        if isinstance(body, dict):
            lines.append(f"[{table}]")
            lines.extend(f'"{k}" = {toml_value(v)}' for k, v in body.items())
    return "\n".join(lines) + "\n"


def edit(dotted: str, value: Any) -> dict[str, Any]:
    config = copy.deepcopy(BASE)
    node = config
    *parents, leaf = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    if value is DELETE:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    return config


DURATIONS = ["experiment.duration", "experiment.warmup", "experiment.bin", "experiment.max_time",
             "scenario.network.coalesce", "scenario.store.mvcc_window", "scenario.store.commit.per_inflight",
             "scenario.store.commit.batch_interval", "scenario.operation.timeout", "scenario.policy.base",
             "scenario.policy.cap", "scenario.policy.deadline"]
BAD_DURATIONS = ["-1s", "inf", "1e400s", "5 parsecs", True, [1]]
POSITIVE = {"experiment.duration", "experiment.bin", "experiment.max_time"}
INTS = {"experiment.seed": 0, "experiment.replications": 1, "scenario.workload.clients": 1,
        "scenario.workload.keys.count": 1, "scenario.operation.reads": 0, "scenario.operation.writes": 0,
        "scenario.operation.value_check_retries": 0, "scenario.policy.max_attempts": 0}

CASES: list[tuple[str, Any, str]] = []          # (dotted key or special, value, key the message names)
for key in DURATIONS:
    CASES += [(key, v, key) for v in BAD_DURATIONS]
CASES += [(key, "0s", key) for key in sorted(POSITIVE)]
for key, low in INTS.items():
    CASES += [(key, low - 1, key), (key, 2.5, key), (key, True, key), (key, "3", key)]
CASES += [
    ("scenario.workload.keys.count", 2.0, "scenario.workload.keys.count"),
    ("scenario.workload.keys.count", 4611686018427387904, "scenario.workload.keys.count"),
    ("scenario.workload.clients", 10_000_000_000, "scenario.workload.clients"),
    ("scenario.workload.kind", "half-open", "scenario.workload.kind"),
    ("scenario.workload.keys.choice", "pareto", "scenario.workload.keys.choice"),
    ("scenario.workload.keys.s", 0, "scenario.workload.keys.s"),
    ("scenario.workload.keys.hot_fraction", 1.5, "scenario.workload.keys.hot_fraction"),
    ("scenario.workload.keys.affinity", -0.1, "scenario.workload.keys.affinity"),
    ("scenario.workload.think", {"dist": "gamma", "mean": "1ms"}, "scenario.workload.think"),
    ("scenario.workload.think", {"dist": "exponential"}, "scenario.workload.think"),
    ("scenario.workload.think", {"mean": "1ms"}, "scenario.workload.think"),
    ("scenario.workload.think", {"dist": "lognormal", "median": "1ms"}, "scenario.workload.think"),
    ("scenario.workload.think", {"dist": "uniform", "low": "2ms", "high": "1ms"}, "scenario.workload.think"),
    ("scenario.workload.think", {"dist": "constant", "value": "inf"}, "scenario.workload.think"),
    ("scenario.workload.think", {"dist": "empirical", "samples": []}, "scenario.workload.think"),
    ("scenario.workload.think", {"dist": "empirical", "csv": "missing.csv"}, "scenario.workload.think"),
    ("scenario.workload.think", {"dist": "empirical", "csv": "empty.csv", "column": "ms"}, "scenario.workload.think"),
    ("scenario.workload.think", {"dist": "empirical", "csv": "binary.csv"}, "scenario.workload.think"),
    ("scenario.workload.think", {"dist": "empirical", "csv": "good.csv", "column": -1}, "scenario.workload.think"),
    ("scenario.workload.think", {"dist": "empirical", "csv": "good.csv", "column": "nope"}, "scenario.workload.think"),
    ("scenario.workload.think", {"dist": "empirical", "csv": "words.csv"}, "scenario.workload.think"),
    ("scenario.workload.think", "fast", "scenario.workload.think"),
    ("scenario.workload.clinets", 2, "scenario.workload.clinets"),
    ("scenario.network.pipelining", "yes", "scenario.network.pipelining"),
    ("scenario.network.pipelining", 1, "scenario.network.pipelining"),
    ("scenario.network.loss", 1.5, "scenario.network.loss"),
    ("scenario.network.loss", -0.1, "scenario.network.loss"),
    ("scenario.network.loss", "x", "scenario.network.loss"),
    ("scenario.network.loss", 0.1, "timeout"),
    ("scenario.network.one_way", "-1ms", "scenario.network.one_way"),
    ("scenario.network.one_way", "inf", "scenario.network.one_way"),
    ("scenario.store.conflict", "strict", "scenario.store.conflict"),
    ("scenario.store.commit.capacity", 0, "scenario.store.commit.capacity"),
    ("scenario.store.commit.capacity", 1.5, "scenario.store.commit.capacity"),
    ("scenario.store.commit.capacity", "lots", "scenario.store.commit.capacity"),
    ("scenario.store.commit.capacity", math.nan, "scenario.store.commit.capacity"),
    ("scenario.store.commit.capacity", -math.inf, "scenario.store.commit.capacity"),
    ("scenario.store.read.batch_interval", "1ms", "batch_interval"),
    ("scenario.store.history.initial_events", -1, "scenario.store.history.initial_events"),
    ("scenario.store.faults", [{"kind": "meteor"}], "scenario.store.faults[0]"),
    ("scenario.store.faults", [{"kind": "error", "probability": 2}], "scenario.store.faults[0].probability"),
    ("scenario.store.faults", [{"kind": "slow", "factor": 0}], "scenario.store.faults[0].factor"),
    ("scenario.store.faults", [{"kind": "down", "start": "2s", "end": "1s"}], "scenario.store.faults[0]"),
    ("scenario.store.faults", 5, "scenario.store.faults"),
    ("scenario.operation.kind", "delete", "scenario.operation.kind"),
    ("scenario.operation.reads", 5, "keys.count"),
    ("scenario.operation", {"kind": "call", "reads": 5}, "keys.count"),
    ("scenario.policy.kind", "magic", "scenario.policy"),
    ("scenario.policy.kind", {"kind": "none"}, "scenario.policy.kind"),     # found by tests/test_fuzz_simulate.py
    ("scenario.policy.kind", ["none"], "scenario.policy.kind"),
    ("scenario.policy.mode", "partial", "scenario.policy.mode"),
    ("scenario.policy.multiplier", "x", "scenario.policy.multiplier"),
    ("scenario.policy", {"kind": "circuit_breaker", "scope": "planet"}, "scenario.policy"),
    ("scenario.policy", {"kind": "circuit_breaker", "counts": "both"}, "scenario.policy.counts"),
    ("scenario.policy", {"kind": "circuit_breaker", "style": "hystrix"}, "scenario.policy.style"),
    ("scenario.policy", {"kind": "circuit_breaker", "style": "resilience4j", "window_type": "sliding"},
     "scenario.policy.window_type"),
    ("scenario.policy", {"kind": "circuit_breaker", "style": "resilience4j", "failure_rate_threshold": 0},
     "scenario.policy.failure_rate_threshold"),
    ("scenario.policy", {"kind": "circuit_breaker", "style": "resilience4j", "window_size": 2.5},
     "scenario.policy.window_size"),
    ("scenario.policy", {"kind": "circuit_breaker", "style": "resilience4j", "wait_in_open": "0s"},
     "scenario.policy.wait_in_open"),
    ("scenario.policy", {"kind": "circuit_breaker", "style": "resilience4j", "cooldown": "1s"},
     "scenario.policy.cooldown"),
    ("scenario.policy", {"kind": "circuit_breaker", "style": "polly", "minimum_throughput": 1},
     "scenario.policy.minimum_throughput"),
    ("scenario.policy", {"kind": "circuit_breaker", "style": "polly", "failure_ratio": 1.5},
     "scenario.policy.failure_ratio"),
    ("scenario.policy", {"kind": "circuit_breaker", "style": "polly", "break_duration": "0.1s"},
     "scenario.policy.break_duration"),
    ("scenario.policy", {"kind": "hedge", "max_attempts": 6}, "scenario.policy.max_attempts"),
    ("scenario.policy", {"kind": "hedge"}, "scenario.policy.max_attempts"),
    ("scenario.policy", {"kind": "hedge", "max_attempts": 2, "delay": "-1ms"}, "scenario.policy.delay"),
    ("scenario.policy", {"kind": "hedge", "max_attempts": 2, "non_fatal": ["ok"]}, "scenario.policy.non_fatal"),
    ("scenario.policy", {"kind": "retry_budget", "style": "linkerd"}, "scenario.policy.style"),
    ("scenario.policy", {"kind": "circuit_breaker", "style": "polly", "inner": {"kind": "circuit_breaker"}},
     "scenario.policy.inner.kind"),
    ("scenario.policy", {"kind": "retry_budget", "style": "envoy", "inner": {"kind": "retry_budget", "style": "finagle"}},
     "scenario.policy.inner.kind"),
    ("scenario.workload", {"kind": "open", "rate": 1e30}, "scenario.workload.rate"),
    ("scenario.workload", {"kind": "open"}, "scenario.workload"),
    ("scenario.workload", {"kind": "open", "rate": -5}, "scenario.workload.rate"),
    ("scenario.workload", {"kind": "open", "schedule": [{"until": "2s", "rate": 1}, {"until": "1s", "rate": 2}]},
     "scenario.workload"),
    ("scenario.workload", {"kind": "open", "schedule": [{"rate": 1e30}]}, "scenario.workload.schedule[0].rate"),
    ("scenario.workload", {"kind": "batch", "ops_per_client": 0}, "scenario.workload.ops_per_client"),
    ("scenario", 5, "scenario"),
    ("experiment", 5, "experiment"),
    ("experiment.name", "bad name!", "experiment.name"),
    ("experiment.name", DELETE, "experiment.name"),
    ("experiment.colour", "red", "experiment.colour"),
    ("bounds", 5, "bounds"),
    ("bounds", [5], "bounds[0]"),
    ("bounds", [{"where": 5, "p99_ms": "< 2"}], "bounds[0].where"),
    ("bounds", [{"nonsense_metric": "< 2"}], "bounds[0]"),
    ("sweep", 5, "sweep"),
    ("sweep", {"workload.clients": 4}, "sweep.workload.clients"),
    ("sweep", {"workload.clients": []}, "sweep.workload.clients"),
    ("sweep", {"workload.clients": [1, -1]}, "scenario.workload.clients"),
    ("sweep", {"policy": [{"kind": "none"}]}, "sweep.policy[0]"),
    ("sweep", {"policy": [{"label": "a", "kind": "none"}, {"label": "a", "kind": "none"}]}, "sweep.policy"),
    ("tables.extra", 1, "tables"),
    # issue 16: replications until precise, warm-up by MSER-5
    ("experiment.replications", "auto", "experiment.precision"),
    ("experiment.replications", "sometimes", "experiment.replications"),
    ("experiment.replications", 1001, "experiment.replications"),
    ("experiment.precision", {"metrics": ["p99_ms"], "relative": 0.05}, "experiment.precision"),
    *[("experiment", {**BASE["experiment"], "replications": "auto", "precision": table}, named) for table, named in [
        ({"relative": 0.05}, "experiment.precision.metrics"),
        ({"metrics": [], "relative": 0.05}, "experiment.precision.metrics"),
        ({"metrics": ["p99"], "relative": 0.05}, "experiment.precision.metrics[0]"),
        ({"metrics": ["wall_s"], "relative": 0.05}, "experiment.precision.metrics[0]"),
        ({"metrics": "p99_ms", "relative": 0.05}, "experiment.precision.metrics"),
        ({"metrics": ["p99_ms", "p99_ms"], "relative": 0.05}, "experiment.precision"),
        ({"metrics": ["p99_ms"]}, "experiment.precision.relative"),
        ({"metrics": ["p99_ms"], "relative": 0}, "experiment.precision.relative"),
        ({"metrics": ["p99_ms"], "relative": 1.5}, "experiment.precision.relative"),
        ({"metrics": ["p99_ms"], "relative": "5%"}, "experiment.precision.relative"),
        ({"metrics": ["p99_ms"], "relative": 0.05, "min": 1}, "experiment.precision.min"),
        ({"metrics": ["p99_ms"], "relative": 0.05, "min": 10, "max": 5}, "experiment.precision"),
        ({"metrics": ["p99_ms"], "relative": 0.05, "max": 5000}, "experiment.precision.max"),
        ({"metrics": ["p99_ms"], "relative": 0.05, "max": 2.5}, "experiment.precision.max"),
        ({"metrics": ["p99_ms"], "relative": 0.05, "lookahead": -1}, "experiment.precision.lookahead"),
        ({"metrics": ["p99_ms"], "relative": 0.05, "confidence": 0.9}, "experiment.precision.confidence"),
        (5, "experiment.precision"),
    ]],
    ("experiment.warmup", "soon", "experiment.warmup"),
    ("experiment.warmup", "-auto", "experiment.warmup"),
    *[("experiment.max_event_rate", v, "experiment.max_event_rate") for v in (0, -1.0, math.inf, math.nan, "fast", True)],
    # [plot] (issue 16 part 4): a map needs two numeric swept keys; labels name swept keys
    ("plot", {"heatmap": {"metrics": ["colapsed"]}}, "plot.heatmap.metrics"),
    ("plot", {"heatmap": {}}, "plot.heatmap.x"),
    ("plot", {"heatmap": {"x": "workload.clients"}}, "plot.heatmap.x"),
    ("plot", {"labels": {"workload.clients": "clients"}}, "plot.labels.workload.clients"),
    ("plot", {"heatmaps": {}}, "plot.heatmaps"),
    ("plot", "map", "plot"),
    # [compare] (issue 16 part 5): a baseline among the swept values, with replications to pair
    ("compare", {"baseline": "jitter"}, "compare.baseline"),
    ("compare", {"baseline": "a", "by": "workload.clients"}, "compare.by"),
    ("compare", {}, "compare.baseline"),
    ("compare", {"baseline": "a", "metrics": ["p99"]}, "compare.metrics"),
    ("compare", {"baseline": "a", "against": "b"}, "compare.against"),
    # more time-series bins than a run may keep (a traceback once: MemoryError, OverflowError)
    ("experiment.bin", "1ns", "experiment.bin"),
    ("experiment.duration", "1e300s", "warmup + duration"),
    ("experiment.warmup", "1e300s", "warmup + duration"),
    # valid configs that could not end: stopped at run time by a guard, and still nothing written
    ("scenario", {"workload": {"kind": "open", "rate": 1e5}, "network": {"one_way": "1us"},
                  "store": {"faults": [{"kind": "error", "probability": 1.0}]},
                  "policy": {"kind": "immediate", "max_attempts": 0}}, "experiment.max_event_rate"),
    ("scenario", {"workload": {"kind": "batch", "clients": 2}, "operation": {"timeout": "10ms"},
                  "store": {"faults": [{"kind": "down", "mode": "hang"}]},
                  "policy": {"kind": "exponential", "max_attempts": 0}}, "experiment.max_time"),
    ("scenario", {"workload": {"kind": "closed", "clients": 2}, "network": {"one_way": "1ms"},
                  "store": {"faults": [{"kind": "error", "probability": 1.0}]},
                  "policy": {"kind": "circuit_breaker", "scope": "client", "inner": {"kind": "exponential"}}},
     "scenario.workload.think"),
]
ARGS: list[tuple[list[str], str]] = [
    (["run", "{cfg}", "--replications", "0"], "--replications"),
    (["run", "{cfg}", "--workers", "0"], "--workers"),
    (["run", "{cfg}", "--executor", "spark"], "--executor"),
    (["run", "{cfg}", "--scheduler", "tcp://x:1"], "--scheduler"),
    (["run", "{dir}/missing.toml"], "CONFIG"),
    (["run", "{dir}/binary.toml"], "CONFIG"),
    (["run", "{dir}/broken.toml"], "CONFIG"),
    (["run", "{dir}/empty.csv"], "CONFIG"),
    (["run", "{dir}"], "CONFIG"),
    (["run", "{cfg}", "--out", "{dir}/good.csv/out"], "--out"),
    (["check", "{cfg}"], "bounds"),
    (["trace", "{cfg}", "--op", "-1"], "--op"),
    (["trace", "{cfg}", "--point", "nope=1"], "--point"),
    (["trace", "{cfg}", "--replication", "x"], "--replication"),
    (["plot", "{dir}"], "DIRECTORY"),
    (["plot", "{dir}/nowhere"], "DIRECTORY"),
    # real stores (issue 17): bad URLs, nothing listening (port 1), options that do not go together
    (["run", "{cfg}", "--store", "mysql://127.0.0.1/x"], "--store"),
    (["run", "{cfg}", "--store", "redis://192.0.2.1:6379"], "--store"),
    (["run", "{cfg}", "--store", "redis://db.example.com:6379"], "--store"),
    (["run", "{cfg}", "--store", "redis://127.0.0.1:6379/99"], "--store"),
    (["run", "{cfg}", "--store", "postgresql://occ@127.0.0.1:5432"], "--store"),
    (["run", "{cfg}", "--store", "redis://127.0.0.1:1"], "--store"),
    (["run", "{cfg}", "--store", "postgresql://occ@127.0.0.1:1/db"], "--store"),
    (["run", "{cfg}", "--store", "redis://127.0.0.1:1", "--workers", "2"], "--workers"),
    (["run", "{cfg}", "--store", "redis://127.0.0.1:1", "--executor", "dask"], "--executor"),
    (["run", "{cfg}", "--store", "redis://127.0.0.1:1", "--client-processes", "0"], "--client-processes"),
    (["run", "{cfg}", "--client-processes", "2"], "--client-processes"),
]
# valid for the model, refused against a real store (checked before connecting: port 1 has no server)
STORE_CASES: list[tuple[str, Any, str]] = [
    ("scenario.store.faults", [{"kind": "down", "start": "0.1s", "end": "0.2s"}], "scenario.store.faults"),
    ("scenario.operation", {"kind": "append", "timeout": "5ms"}, "scenario.operation.timeout"),
    ("scenario.policy", {"kind": "jitter", "deadline": "1s"}, "scenario.policy.deadline"),
    ("scenario.workload", {"kind": "open", "rate": 5.0}, "scenario.workload.kind"),
    ("scenario.operation.kind", "call", "scenario.operation.kind"),
    ("scenario.workload.clients", 2000, "scenario.workload.clients"),
    ("sweep", {"workload.kind": ["closed", "open"], "workload.rate": [5.0]}, "scenario.workload.kind"),
    ("experiment.warmup", "auto", "experiment.warmup"),
]


def files(d: Path) -> None:
    (d / "empty.csv").write_text("ms\n")
    (d / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (d / "good.csv").write_text("ms\n1\n2\n")
    (d / "words.csv").write_text("a\nb\n")
    (d / "binary.toml").write_bytes(b"\xff\xfe\x00\x81" * 64)
    (d / "broken.toml").write_text("[experiment\nname = ")


class TimeLimit(Exception):
    pass


def invoke_limited(args: list[str]) -> Any:
    def alarm(signum: int, frame: Any) -> None:
        raise TimeLimit(f"{args} still running after {LIMIT_S} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(LIMIT_S)
    try:
        return CliRunner().invoke(main, args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_refused(result: Any, key: str, tmp_path: Path, before: set[Path]) -> None:
    """Exit 2 in time, no traceback, the key named, nothing written; and (but for click's own usage
    errors, which add a usage line) one line: no progress bar left above the message."""
    assert not isinstance(result.exception, TimeLimit), result.exception
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    assert key in result.output, result.output
    assert result.output.startswith("Usage:") or len(result.output.strip().splitlines()) == 1, result.output
    assert set(tmp_path.rglob("*")) == before, "something was written"


def test_table_has_at_least_150_cases():
    assert len(CASES) + len(ARGS) >= 150


@pytest.mark.parametrize("key,value,named", STORE_CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(STORE_CASES)])
def test_what_a_real_store_cannot_honour_is_refused(tmp_path, monkeypatch, key, value, named):
    files(tmp_path)
    (tmp_path / "c.toml").write_text(toml(edit(key, value)))
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.rglob("*"))
    result = invoke_limited(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "out"), "--no-plots",
                             "--store", "redis://127.0.0.1:1"])
    check_refused(result, named, tmp_path, before)


@pytest.mark.parametrize("key,value,named", CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_bad_config_is_refused(tmp_path, monkeypatch, key, value, named):
    files(tmp_path)
    (tmp_path / "c.toml").write_text(toml(edit(key, value)))
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.rglob("*"))
    result = invoke_limited(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "out"), "--no-plots"])
    check_refused(result, named, tmp_path, before)


@pytest.mark.parametrize("args,named", ARGS, ids=[" ".join(a) for a, _ in ARGS])
def test_bad_arguments_are_refused(tmp_path, monkeypatch, args, named):
    files(tmp_path)
    (tmp_path / "c.toml").write_text(toml(BASE))
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.rglob("*"))
    result = invoke_limited([a.format(cfg=tmp_path / "c.toml", dir=tmp_path) for a in args])
    check_refused(result, named, tmp_path, before)


def test_base_config_is_valid(tmp_path, monkeypatch):
    """The table means something only if the unedited config runs."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(toml(BASE))
    result = invoke_limited(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "out"), "--no-plots",
                             "--workers", "1"])
    assert result.exit_code == 0, result.output


SWEEP_TWO = {"policy": [{"label": "a", "kind": "immediate"}, {"label": "b", "kind": "jitter", "base": "5ms"}]}
# `occmodel compare` on results directories: {res} two policies × 2 replications, {one} one
# replication, {flat} a sweep without policy; {dir} holds no results
COMPARE_ARGS: list[tuple[list[str], str]] = [
    (["compare", "{res}", "--baseline", "nope"], "--baseline"),
    (["compare", "{res}"], "--baseline"),
    (["compare", "{res}", "--baseline", "a", "--metric", "p99"], "--metric"),
    (["compare", "{res}", "--baseline", "a", "--by", "workload.clients"], "--by"),
    (["compare", "{dir}", "--baseline", "a"], "DIRECTORY"),
    (["compare", "{dir}/nowhere", "--baseline", "a"], "DIRECTORY"),
    (["compare", "{one}", "--baseline", "a"], "DIRECTORY"),
    (["compare", "{flat}", "--baseline", "a"], "DIRECTORY"),
    (["compare", "{res}/runs", "--baseline", "a"], "DIRECTORY"),
]
# valid for the model, refused because [compare] cannot pair them
COMPARE_CASES: list[tuple[dict[str, Any], str]] = [
    ({"sweep": SWEEP_TWO, "compare": {"baseline": "a"}}, "experiment.replications"),
    ({"sweep": SWEEP_TWO, "compare": {"baseline": "c"}, "experiment": {**BASE["experiment"], "replications": 2}},
     "compare.baseline"),
]


@pytest.fixture(scope="module")
def results_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    for name, reps, sweep in (("res", 2, SWEEP_TWO), ("one", 1, SWEEP_TWO), ("flat", 2, {"workload.clients": [1, 2]})):
        config = {**copy.deepcopy(BASE), "sweep": sweep}
        config["experiment"]["replications"] = reps
        (root / f"{name}.toml").write_text(toml(config))
        result = CliRunner().invoke(main, ["run", str(root / f"{name}.toml"), "--out", str(root / name), "--no-plots",
                                           "--workers", "1"])
        assert result.exit_code == 0, result.output
    return root


@pytest.mark.parametrize("args,named", COMPARE_ARGS, ids=[" ".join(a) for a, _ in COMPARE_ARGS])
def test_bad_compare_arguments_are_refused(tmp_path, monkeypatch, results_dirs, args, named):
    import shutil

    for name in ("res", "one", "flat"):
        shutil.copytree(results_dirs / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.rglob("*"))
    dirs = {name: tmp_path / name for name in ("res", "one", "flat")}
    result = invoke_limited([a.format(dir=tmp_path, **dirs) for a in args])
    check_refused(result, named, tmp_path, before)


@pytest.mark.parametrize("edits,named", COMPARE_CASES, ids=[n for _, n in COMPARE_CASES])
def test_unpairable_compare_tables_are_refused(tmp_path, monkeypatch, edits, named):
    (tmp_path / "c.toml").write_text(toml({**copy.deepcopy(BASE), **edits}))
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.rglob("*"))
    result = invoke_limited(["run", str(tmp_path / "c.toml"), "--out", str(tmp_path / "out"), "--no-plots"])
    check_refused(result, named, tmp_path, before)
