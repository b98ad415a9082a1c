"""Hand-written models that `occmodel bench` measures the simulator against (issue 18).

Each one is the loop a user would write for one study instead of using occmodel, doing the same
work: the same model, the same random streams drawn in the same blocks, so that it reproduces
occmodel's results exactly (tests/test_bench_reference.py checks every number), and the time
ratio compares equal work, not merely similar scenarios.

- `backoff_study`: the AWS Architecture Blog's 2015 "Exponential Backoff And Jitter" simulation
  (experiments/validation/aws-backoff.toml) as a bare heapq event loop: N clients each write one
  shared row once, every hop |N(10 ms, 2 ms)|, no store queue or service time, five backoff
  strategies. Its result is (conditional writes, makespan).
- `closed_append`: a closed append workload with conflicts and full-jitter retries, written
  directly on SimPy (one process per client, `simpy.Resource` servers), with occmodel's
  measurement rules: operations that start in the window are the population, the run goes on
  until they have all finished.

The loops make their per-client streams one at a time (`streams.random_stream`: one numpy
SeedSequence each, ~10 µs), as a user would; occmodel makes the same generators for all clients of
a stream at once (`streams.Streams`). `occmodel bench` reports the loop's share apart (`stream_setup`).
"""
from __future__ import annotations

import heapq
import math
from typing import Any, Callable

import numpy as np
import simpy

from .distributions import blocks
from .streams import random_stream
from .policies import build_policy

# The 2015 study (experiments/validation/aws-backoff.toml; tests pin the two together).
HOP_MEAN, HOP_SD = 0.010, 0.002
STRATEGIES: dict[str, dict[str, Any]] = {
    "no backoff": {"kind": "immediate", "max_attempts": 0},
    "exponential": {"kind": "exponential", "base": "10ms", "cap": "2s", "max_attempts": 0},
    "full jitter": {"kind": "jitter", "mode": "full", "base": "10ms", "cap": "2s", "max_attempts": 0},
    "equal jitter": {"kind": "jitter", "mode": "equal", "base": "10ms", "cap": "2s", "max_attempts": 0},
    "decorrelated": {"kind": "jitter", "mode": "decorrelated", "base": "5ms", "cap": "2s", "max_attempts": 0},
}
FULL_GRID = list(range(10, 200, 10))            # the study's client counts (aws-backoff.toml)
REDUCED_GRID = [10, 25, 50, 100, 150, 190]      # its quick variant's (aws-backoff-quick.toml)


def study_scenario(clients: int, strategy: str) -> dict[str, Any]:
    """occmodel's `[scenario]` for one point of the study."""
    return {"workload": {"kind": "batch", "clients": clients, "ops_per_client": 1, "keys": {"count": 1}},
            "network": {"one_way": {"dist": "normal", "mean": "10ms", "sd": "2ms"}},
            "operation": {"kind": "append"}, "policy": dict(STRATEGIES[strategy])}


def _draws(clients: int) -> int:
    """Block size of a client's streams (occmodel.client.block_size)."""
    return 256 if clients <= 64 else 32


def backoff_study(clients: int, strategy: str, seed: int, replication: int = 0) -> tuple[int, float, int]:
    """One trial of the study: (conditional writes, makespan in seconds, events scheduled)."""
    policy = build_policy(STRATEGIES[strategy])
    mode = getattr(policy, "mode", policy.KIND)      # immediate | exponential | a jitter mode
    base, cap = getattr(policy, "base", 0.0), getattr(policy, "cap", 0.0)
    size = _draws(clients)
    hops = [blocks(_normal(random_stream(seed, replication, "network", c)), size) for c in range(clients)]
    jitter: list[Callable[[], float] | None] = [None] * clients
    seen = [0] * clients          # the version each client read
    retries = [0] * clients
    prev = [0.0] * clients        # decorrelated: the last delay
    version, writes, makespan = 0, 0, 0.0
    # events: (time, sequence number, client, what arrives): 0 read at the store, 1 its reply,
    # 2 commit at the store, 3 commit succeeded (reply), 4 commit conflicted (reply), 5 backoff over
    heap = [(hops[c](), c, c, 0) for c in range(clients)]
    heapq.heapify(heap)
    seq = clients
    push, pop = heapq.heappush, heapq.heappop
    while heap:
        now, _, c, what = pop(heap)
        if what == 0:
            seen[c] = version
            push(heap, (now + hops[c](), seq, c, 1))
        elif what == 1:
            push(heap, (now + hops[c](), seq, c, 2))
        elif what == 2:
            if seen[c] < version:
                push(heap, (now + hops[c](), seq, c, 4))
            else:
                version = seen[c] + 1
                push(heap, (now + hops[c](), seq, c, 3))
        elif what == 3:
            writes += 1
            makespan = now
            continue
        elif what == 4:
            writes += 1
            k = retries[c]
            retries[c] = k + 1
            if mode == "immediate":
                delay = 0.0
            elif mode == "exponential":
                delay = min(cap, base * 2.0 ** min(k, 1000))
            else:
                draw = jitter[c]
                if draw is None:      # made on first use, as occmodel does
                    rng = random_stream(seed, replication, "jitter", c)
                    draw = jitter[c] = blocks(lambda n, rng=rng: rng.random(n), size)
                if mode == "decorrelated":
                    delay = prev[c] = min(cap, base + draw() * (3 * (prev[c] or base) - base))
                else:
                    e = min(cap, base * 2.0 ** min(k, 1000))
                    delay = draw() * e if mode == "full" else e / 2 + draw() * e / 2
            if delay:
                push(heap, (now + delay, seq, c, 5))
            else:
                push(heap, (now + hops[c](), seq, c, 0))
        else:
            push(heap, (now + hops[c](), seq, c, 0))
        seq += 1
    return writes, makespan, seq


def _normal(rng: np.random.Generator) -> Callable[[int], np.ndarray]:
    return lambda n: np.abs(rng.normal(HOP_MEAN, HOP_SD, n))


# --- a closed append workload with conflicts, on SimPy -------------------------------------------
CLOSED = {"clients": 32, "keys": 64, "hop": 250e-6, "service": 50e-6, "capacity": 4,
          "base": 0.001, "cap": 0.1, "max_attempts": 10}


def closed_scenario(p: dict[str, Any] = CLOSED) -> dict[str, Any]:
    """occmodel's `[scenario]` for `closed_append` with parameters `p`."""
    service = {"dist": "exponential", "mean": p["service"]}
    server = {"capacity": p["capacity"], "service": service}
    return {"workload": {"kind": "closed", "clients": p["clients"], "keys": {"count": p["keys"]}},
            "network": {"one_way": {"dist": "exponential", "mean": p["hop"]}},
            "store": {"read": server, "commit": server}, "operation": {"kind": "append"},
            "policy": {"kind": "jitter", "mode": "full", "base": p["base"], "cap": p["cap"],
                       "max_attempts": p["max_attempts"]}}


def closed_append(duration: float, warmup: float = 0.0, seed: int = 1, replication: int = 0,
                  p: dict[str, Any] = CLOSED) -> dict[str, float]:
    """Run the workload; the measured operations' counts, mean latency of the successful ones (ms),
    and the events SimPy scheduled."""
    env = simpy.Environment()
    clients, size = p["clients"], _draws(p["clients"])
    stream = lambda name, *c: random_stream(seed, replication, name, *c)  # noqa: E731
    read_rng, commit_rng = stream("read"), stream("commit")
    read_service = blocks(lambda n: read_rng.exponential(p["service"], n))
    commit_service = blocks(lambda n: commit_rng.exponential(p["service"], n))
    reads, commits = simpy.Resource(env, p["capacity"]), simpy.Resource(env, p["capacity"])
    version = [0] * p["keys"]
    t0, t1 = warmup, warmup + duration
    count = {"started": 0, "finished": 0, "succeeded": 0, "attempts": 0, "conflicts": 0, "latency": 0.0}
    drained: list[simpy.Event] = []
    base, cap, limit = p["base"], p["cap"], p["max_attempts"]

    def client(c: int) -> Any:
        hop = blocks(lambda n, rng=stream("network", c): rng.exponential(p["hop"], n), size)
        key_rng = stream("keys", c)
        keys = blocks(lambda n: key_rng.integers(0, p["keys"], n), size)
        jitter: Callable[[], float] | None = None
        while True:
            key, start = keys(), env.now
            measured = t0 <= start < t1
            count["started"] += measured
            attempts = 0
            while True:
                attempts += 1
                yield env.timeout(hop())
                with reads.request() as req:
                    yield req
                    yield env.timeout(read_service())
                    seen = version[key]
                yield env.timeout(hop())
                yield env.timeout(hop())
                with commits.request() as req:
                    yield req
                    yield env.timeout(commit_service())
                    ok = seen >= version[key]
                    if ok:
                        version[key] = seen + 1
                yield env.timeout(hop())
                count["attempts"] += measured
                if ok:
                    break
                count["conflicts"] += measured
                if attempts >= limit:
                    break
                if jitter is None:
                    rng = stream("jitter", c)
                    jitter = blocks(lambda n: rng.random(n), size)
                delay = jitter() * min(cap, base * 2.0 ** min(attempts - 1, 1000))
                if delay:
                    yield env.timeout(delay)
            if measured:
                count["finished"] += 1
                if ok:
                    count["succeeded"] += 1
                    count["latency"] += env.now - start
                if drained and count["finished"] == count["started"]:
                    drained[0].succeed()

    for c in range(clients):
        env.process(client(c))
    env.run(until=t1)
    if count["finished"] < count["started"]:
        drained.append(env.event())
        env.run(until=drained[0])
    n = count["succeeded"]
    return {**count, "mean_ms": count["latency"] / n * 1e3 if n else math.nan, "events": _events(env)}


def _events(env: simpy.Environment) -> int:
    return int(repr(env._eid)[6:-1])
