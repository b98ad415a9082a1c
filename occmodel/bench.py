"""How fast is the simulator? Measured against bare SimPy in the same process and run.

Absolute speeds vary with the machine and its load, so every figure is reported beside a
baseline measured seconds apart: bare SimPy doing an OCC attempt's event pattern (request hop,
queue for a server, service, reply hop; then the same for the commit) with nothing else, and
occmodel's full model on the equivalent scenario. The last line is their ratio. Also: a
sweep's parallel efficiency (1 worker vs all cores) and the peak memory of a long run.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
import simpy

from .distributions import blocks
from .model import events_scheduled, simulate

CLIENTS, KEYS = 32, 1_000_000


def bare_simpy(duration: float, clients: int = CLIENTS, seed: int = 1) -> tuple[int, float, int]:
    """Bare SimPy: (events, wall seconds, attempts) for the OCC attempt pattern."""
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    hop = blocks(lambda n: rng.exponential(250e-6, n))       # the same block sampling as the model
    service = blocks(lambda n: rng.exponential(50e-6, n))
    reads, commits = simpy.Resource(env, 8), simpy.Resource(env, 8)
    attempts = [0]

    def client() -> Any:
        while True:
            for server in (reads, commits):
                yield env.timeout(hop())
                request = server.request()
                yield request
                yield env.timeout(service())
                server.release(request)
                yield env.timeout(hop())
            attempts[0] += 1

    for _ in range(clients):
        env.process(client())
    wall = time.perf_counter()
    env.run(until=duration)
    return events_scheduled(env), time.perf_counter() - wall, attempts[0]


MODEL = {"workload": {"kind": "closed", "clients": CLIENTS, "keys": {"count": KEYS}},
         "network": {"one_way": {"dist": "exponential", "mean": "250us"}},
         "store": {"read": {"capacity": 8, "service": {"dist": "exponential", "mean": "50us"}},
                   "commit": {"capacity": 8, "service": {"dist": "exponential", "mean": "50us"}}},
         "operation": {"kind": "append"}, "policy": {"kind": "exponential"}}


def model(duration: float) -> tuple[int, float, int]:
    m = simulate(MODEL, seed=1, duration=duration).metrics
    return m["events"], m["wall_s"], int(m["attempts_per_op"] * m["operations"])


def sweep_efficiency(workers: int) -> tuple[float, float]:
    """Wall time of the same 8-run sweep with 1 worker and with `workers`."""
    from .experiment import load_experiment, run_experiment
    import tempfile
    from pathlib import Path

    cfg = {"experiment": {"name": "bench", "replications": 4 * workers, "duration": "2s"},
           "scenario": MODEL}
    walls = []
    for n in (1, workers):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            run_experiment(load_experiment(cfg), Path(tmp), workers=n)
            walls.append(time.perf_counter() - t)
    return walls[0], walls[1]


def peak_memory_mb(operations: int) -> tuple[float, int]:
    """Peak RSS of a fresh process running an open workload of about `operations` operations."""
    code = ("import resource, occmodel\n"
            f"m = occmodel.simulate({{'workload': {{'kind': 'open', 'rate': 100000.0}}, 'operation': {{'kind': 'call'}}}},"
            f" seed=1, duration={operations / 100000.0}).metrics\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, m['operations'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]) / 1024, int(out[1])


def main(quick: bool = False, console: Any = None) -> None:
    say = console.print if console is not None else print
    duration = 2.0 if quick else 10.0
    model(0.2)                                   # warm imports and caches before timing
    b_events, b_wall, b_attempts = bare_simpy(duration)
    m_events, m_wall, m_attempts = model(duration)
    b_rate, m_rate = b_events / b_wall, m_events / m_wall
    say(f"bare SimPy : {b_events:>10,} events in {b_wall:6.2f} s = {b_rate:>10,.0f} events/s, "
        f"{b_attempts / b_wall:>9,.0f} attempts/s")
    say(f"occmodel   : {m_events:>10,} events in {m_wall:6.2f} s = {m_rate:>10,.0f} events/s, "
        f"{m_attempts / m_wall:>9,.0f} attempts/s")
    say(f"attempt rate ratio model/bare: {(m_attempts / m_wall) / (b_attempts / b_wall):.2f}")
    workers = os.cpu_count() or 1
    if workers > 1:
        one, many = sweep_efficiency(workers)
        say(f"sweep of {4 * workers} runs: {one:.2f} s with 1 worker, {many:.2f} s with {workers}: "
            f"parallel efficiency {one / (many * workers):.2f}")
    ops = 200_000 if quick else 10_000_000
    mb, done = peak_memory_mb(ops)
    say(f"peak memory of a {done:,}-operation run: {mb:.0f} MB")
    say(f"event rate ratio model/bare: {m_rate / b_rate:.2f}")
