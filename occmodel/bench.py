"""How fast is the simulator? Measured against bare SimPy in the same process and run.

Absolute speeds vary with the machine and its load, so the simulator's speed is reported beside
a baseline measured seconds apart: bare SimPy doing an OCC attempt's event pattern (request hop,
queue for a server, service, reply hop; then the same for the commit: 10 events an attempt, as
in the model) with nothing else, and occmodel's full model on the equivalent scenario. They run
in alternating short rounds (bare, model, model, bare, ...), so that a burst of load from other
processes hits both about equally; the figure is the median of the per-round ratios, with its
range. The last line printed is that ratio.

Equal work, not only equal event patterns (issue 18): CPU time per conditional write on the 2015
backoff study's grid against a bare heapq event loop of the same model, and CPU time of a closed
append workload with conflicts and full-jitter retries against the same model written directly on
SimPy (occmodel.bench_reference; both reproduce occmodel's results exactly, so the ratio compares
identical work). CPU time (`time.process_time`), not wall time: other processes on the machine
then slow neither side. occmodel runs each of them twice, on its lean path (what it takes
automatically) and on its general path (`lean=False`), and both are shown. Each scenario's events
per attempt are printed beside it.

Also: a sweep's parallel efficiency (1 worker vs all cores), and the peak memory of a long run
(1 M operations; 10 M with `long`) and of a run with 10,000 clients, each measured in a fresh
process.
"""
from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import simpy

from . import bench_reference as ref
from .distributions import blocks
from .model import events_scheduled, simulate
from .streams import Streams, random_stream

CLIENTS, KEYS = 32, 1_000_000
SWEEP_ROUNDS = 5     # sweep-efficiency rounds (each is a 1-worker and an all-worker sweep)
ROUNDS = 5
Run = tuple[int, float, int]      # (events, wall seconds, attempts)


def bare_simpy(duration: float, clients: int = CLIENTS, seed: int = 1) -> Run:
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


def model(duration: float) -> Run:
    """occmodel on the equivalent scenario: (events, wall seconds, attempts)."""
    m = simulate(MODEL, seed=1, duration=duration).metrics
    return m["events"], m["wall_s"], round(m["attempts_per_op"] * m["operations"]) if m["operations"] else 0


def rounds(n: int, duration: float) -> tuple[list[Run], list[Run]]:
    """`n` rounds of `duration` simulated seconds each of bare SimPy and of the model, alternating
    which goes first; a full garbage collection before each, so neither pays for the other's."""
    bare, full = [], []
    for i in range(n):
        order: tuple[tuple[Callable[[float], Run], list[Run]], ...] = ((bare_simpy, bare), (model, full))
        for run, into in (order if i % 2 == 0 else order[::-1]):
            gc.collect()
            into.append(run(duration))
    return bare, full


def cpu(run: Callable[[], Any]) -> tuple[float, Any]:
    """(CPU seconds of this process, result) of `run()`, after a full garbage collection."""
    gc.collect()
    t = time.process_time()
    out = run()
    return time.process_time() - t, out


def study(grid: list[int], seed: int = 2015) -> tuple[float, float, float, int, int, int, int]:
    """One trial of every point of the 2015 study on `grid` (client counts × the five strategies),
    occmodel (lean path, general path) and the heapq loop taking turns at going first point by
    point: (lean CPU seconds, general CPU seconds, loop CPU seconds, conditional writes, lean
    events, general events, loop events). Raises if any two disagree."""
    cpu_s = [0.0, 0.0, 0.0]
    events = [0, 0, 0]
    writes = 0
    for i, (clients, strategy) in enumerate((c, s) for c in grid for s in ref.STRATEGIES):
        scenario = ref.study_scenario(clients, strategy)

        def occmodel(lean: bool) -> tuple[int, float, int]:
            m = simulate(scenario, seed=seed, lean=lean).metrics
            return m["calls"], m["makespan_s"], m["events"]

        runs = [lambda: occmodel(True), lambda: occmodel(False), lambda: ref.backoff_study(clients, strategy, seed)]
        out: list[Any] = [None] * 3
        for j in range(3):
            k = (i + j) % 3
            out[k] = cpu(runs[k])
        if len({r[:2] for _, r in out}) != 1:
            raise AssertionError(f"study point {clients} clients, {strategy}: (writes, makespan) of occmodel's lean "
                                 f"path, its general path and the loop differ: {[r[:2] for _, r in out]}")
        for k, (t, r) in enumerate(out):
            cpu_s[k] += t
            events[k] += r[2]
        writes += out[2][1][0]
    return cpu_s[0], cpu_s[1], cpu_s[2], writes, events[0], events[1], events[2]


def stream_setup(grid: list[int], seed: int = 2015) -> tuple[float, float]:
    """CPU seconds spent creating the study's per-client random streams on `grid` (a network
    stream per client, and a jitter stream per client for the three jittered strategies): one
    SeedSequence each, as the heapq loop makes them, and seeded a stream name at a time, as
    occmodel makes them (`streams.Streams`)."""
    names = [("network", "jitter") if policy["kind"] == "jitter" else ("network",) for policy in ref.STRATEGIES.values()]
    one, _ = cpu(lambda: [random_stream(seed, 0, name, c) for clients in grid for per in names
                          for name in per for c in range(clients)])

    def batched() -> None:
        for clients in grid:
            for per in names:
                streams = Streams(seed, 0, clients)
                for name in per:
                    for c in range(clients):
                        streams(name, c)

    together, _ = cpu(batched)
    return one, together


def closed(duration: float, seed: int = 1) -> tuple[float, float, float, int, int, int, int]:
    """The closed append workload by occmodel (lean path, general path) and by hand on SimPy, taking
    turns: (lean CPU seconds, general CPU seconds, hand-written CPU seconds, lean events, general
    events, hand-written events, attempts). Raises if they disagree."""
    scenario = ref.closed_scenario()
    a, m = cpu(lambda: simulate(scenario, seed=seed, duration=duration).metrics)
    g, general = cpu(lambda: simulate(scenario, seed=seed, duration=duration, lean=False).metrics)
    b, h = cpu(lambda: ref.closed_append(duration, seed=seed))
    attempts = round(m["attempts_per_op"] * m["operations"])
    counts = {(r["operations"], r["successes"], round(r["attempts_per_op"] * r["operations"])) for r in (m, general)}
    if counts != {(h["finished"], h["succeeded"], h["attempts"])}:
        raise AssertionError(f"closed append: occmodel (lean, general) {counts}; by hand {h['finished']} operations, "
                             f"{h['attempts']} attempts")
    return a, g, b, m["events"], general["events"], h["events"], attempts


def sweep_efficiency(workers: int, duration: float = 1.0) -> tuple[float, float, float, float, float]:
    """The same sweep (4 runs per worker) with 1 worker and with `workers`: (wall seconds with 1,
    wall seconds with `workers`, total of the runs' own wall times with 1, the same with `workers`,
    CPU seconds of the sweep with `workers` (this process and its workers) over those with 1).
    The runs' own times show whether the cores were really free: on a shared machine runs slow
    down when run side by side, which no sweep machinery can help; the CPU ratio is what the
    parallel machinery itself costs (1.00: nothing)."""
    from .experiment import load_experiment, run_experiment

    cfg = {"experiment": {"name": "bench", "replications": 4 * workers, "duration": duration},
           "scenario": MODEL}
    walls, busy, cpus = [], [], []
    for n in (1, workers):
        with tempfile.TemporaryDirectory() as tmp:
            gc.collect()
            c, t = all_cpu(), time.perf_counter()
            rows = run_experiment(load_experiment(cfg), Path(tmp), workers=n)
            walls.append(time.perf_counter() - t)
            cpus.append(all_cpu() - c)
            busy.append(sum(row["wall_s"] for row in rows))
    return walls[0], walls[1], busy[0], busy[1], cpus[1] / cpus[0]


def all_cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the pool's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


_PEAK = """
import json, resource, sys, occmodel

def peak():   # this process's RSS high-water mark in kB (ru_maxrss may carry the parent's over exec)
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

scenario, duration = json.loads(sys.argv[1]), float(sys.argv[2])
before = peak()
m = occmodel.simulate(scenario, seed=1, duration=duration).metrics
print(json.dumps([before, peak(), m["operations"], m["wall_s"]]))
"""


def peak_memory(scenario: dict[str, Any], duration: float) -> tuple[float, float, int, float]:
    """Run `scenario` in a fresh process: (peak RSS in MB after imports, peak RSS in MB at the
    end, operations, wall seconds)."""
    out = subprocess.run([sys.executable, "-c", _PEAK, json.dumps(scenario), repr(duration)],
                         capture_output=True, text=True, check=True).stdout
    before, after, ops, wall = json.loads(out)
    return before / 1024, after / 1024, ops, wall


# Long runs: open arrivals of `call` operations (one round trip each, ~50 in flight), and
# 10,000 closed-loop clients (think 100 ms) on the bench's store.
RATE = 100_000.0
LONG = {"workload": {"kind": "open", "rate": RATE}, "operation": {"kind": "call"},
        "network": {"one_way": {"dist": "exponential", "mean": "250us"}}}
MANY = {**MODEL, "workload": {"kind": "closed", "clients": 10_000, "keys": {"count": KEYS},
                              "think": {"dist": "exponential", "mean": "100ms"}}}


def peak_memory_mb(operations: int) -> tuple[float, int]:
    """Peak RSS (MB) of a fresh process running about `operations` operations, and how many ran."""
    _, mb, done, _ = peak_memory(LONG, operations / RATE)
    return mb, done


PARTS = ("speed", "sweep", "memory")


def main(quick: bool = False, console: Any = None, long: bool = False, scale: float = 1.0,
         parts: tuple[str, ...] = PARTS) -> None:
    """Print the figures; the last line is the median event-rate ratio model/bare.

    `quick`: shorter rounds and runs, the study's reduced grid; `long`: the memory run has 10 M
    operations (minutes); `scale` multiplies every duration and operation count and shortens the
    study's grid (tests use a tiny one); `parts`: which of speed, sweep and memory to measure
    (the event-rate rounds always run)."""
    say = console.print if console is not None else print
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    duration = (0.3 if quick else 1.0) * scale
    model(min(0.05, duration))                   # warm imports and caches before timing
    bare, full = rounds(ROUNDS, duration)
    b_rates = [e / w for e, w, _ in bare]
    m_rates = [e / w for e, w, _ in full]
    ratios = [m / b for m, b in zip(m_rates, b_rates)]
    ratio = statistics.median(ratios)
    say(f"{ROUNDS} alternating rounds of {duration:g} simulated s each (1-min load average before: {load:.2f}); medians:")
    for name, runs, rates in (("bare SimPy", bare, b_rates), ("occmodel  ", full, m_rates)):
        events = statistics.median(e for e, _, _ in runs)
        attempts = statistics.median(a / w for _, w, a in runs)
        per = events / max(1, statistics.median(a for _, _, a in runs))
        say(f"{name} : {events:>10,.0f} events a round, {statistics.median(rates):>9,.0f} events/s, "
            f"{attempts:>8,.0f} attempts/s, {per:.1f} events/attempt")
    say(f"event rate ratio model/bare per round: {' '.join(f'{r:.2f}' for r in ratios)}; "
        f"median {ratio:.2f}, range {min(ratios):.2f}-{max(ratios):.2f}")
    if "speed" in parts:
        speed(say, quick, scale)
    if "sweep" in parts:
        sweep(say, quick, scale)
    if "memory" in parts:
        memory(say, quick, long, scale)
    say(f"event rate ratio model/bare: {ratio:.2f}")


def speed(say: Callable[[str], None], quick: bool, scale: float) -> None:
    """The equal-work ratios: the 2015 study's grid against the heapq loop, the closed append
    workload against hand-written SimPy; ROUNDS rounds each, medians."""
    grid = ref.REDUCED_GRID if quick else ref.FULL_GRID
    if scale < 1:
        grid = grid[:max(1, round(len(grid) * scale))]
    runs = [study(grid) for _ in range(3)]
    writes = runs[0][3]
    lean, general = [[r[k] / r[2] for r in runs] for k in (0, 1)]
    per = [statistics.median(r[k] for r in runs) / writes * 1e6 for k in (0, 1, 2)]
    setup, batched = (t / writes * 1e6 for t in stream_setup(grid))
    events = [runs[0][k] / writes for k in (4, 5, 6)]
    name = "reduced" if quick else "full"
    say(f"2015 backoff study, {name} grid ({len(grid)} client counts x {len(ref.STRATEGIES)} strategies, "
        f"one trial each, {writes:,} conditional writes, results identical), 3 rounds:")
    say(f"  occmodel   {per[0]:5.1f} us CPU per write, {events[0]:.2f} events/write (general path: {per[1]:.1f} us, "
        f"{events[1]:.2f} events/write)")
    say(f"  heapq loop {per[2]:5.1f} us CPU per write, {events[2]:.2f} events/write "
        f"(of which creating random streams: {setup:.1f} us; occmodel seeds the same streams in {batched:.1f} us)")
    say(f"  study CPU ratio occmodel/heapq loop per round: {' '.join(f'{r:.2f}' for r in lean)}; "
        f"median {statistics.median(lean):.2f} (general path: median {statistics.median(general):.2f})")
    duration = (0.3 if quick else 1.0) * scale
    runs = [closed(duration) for _ in range(ROUNDS)]
    lean, general = [[r[k] / r[2] for r in runs] for k in (0, 1)]
    _, _, _, ev, gev, hev, att = runs[0]
    say(f"closed append, conflicts, full-jitter retries ({ref.CLOSED['clients']} clients, {ref.CLOSED['keys']} keys, "
        f"{duration:g} simulated s, results identical):")
    say(f"  occmodel {ev / max(1, att):.2f} events/attempt (general path {gev / max(1, att):.2f}), "
        f"hand-written SimPy {hev / max(1, att):.2f}")
    say(f"  closed CPU ratio occmodel/hand-written SimPy per round: {' '.join(f'{r:.2f}' for r in lean)}; "
        f"median {statistics.median(lean):.2f} (general path: median {statistics.median(general):.2f})")


def sweep(say: Callable[[str], None], quick: bool, scale: float) -> None:
    """A sweep's parallel efficiency on every core: SWEEP_ROUNDS rounds of the sweep with one
    worker then with all, the median of the rounds' ratios (one round is at the mercy of whatever
    else the machine runs at that moment). On a shared machine a core's speed moves by 15 % from
    one second to the next (measured here: the same sweep's CPU time 0.85-1.19x from round to
    round), so each round's efficiency is also given times its CPU ratio: what the sweep machinery
    itself leaves idle (start, the serial writing of results, the last worker's wait), whatever
    the cores' speed did meanwhile. (The best of the rounds is no steadier: the fastest 1-worker
    sweep is one lucky core, the fastest 2-worker sweep needs two.)"""
    workers = os.cpu_count() or 1
    if workers == 1:
        say("sweep parallel efficiency: not measured (1 core)")
        return
    rounds = [sweep_efficiency(workers, (0.25 if quick else 1.0) * scale) for _ in range(SWEEP_ROUNDS)]
    eff = [one / (many * workers) for one, many, *_ in rounds]
    used = [e * r[4] for e, r in zip(eff, rounds)]     # efficiency had the CPU been as fast in both sweeps
    slower = [side / alone for _, _, alone, side, _ in rounds]
    busy = [side / (many * workers) for _, many, _, side, _ in rounds]
    one, many, cpu_ratio = (statistics.median(r[k] for r in rounds) for k in (0, 1, 4))
    say(f"sweep of {4 * workers} runs, {SWEEP_ROUNDS} rounds: median {one:.2f} s with 1 worker, {many:.2f} s with "
        f"{workers}; runs side by side took {statistics.median(slower):.2f}x as long as alone")
    say(f"  workers busy {statistics.median(busy):.0%} of the sweep; its CPU {cpu_ratio:.2f}x the 1-worker sweep's")
    say(f"  parallel efficiency per round {' '.join(f'{e:.2f}' for e in eff)}, median {statistics.median(eff):.2f}")
    say(f"  efficiency times the round's CPU ratio {' '.join(f'{u:.2f}' for u in used)}, median "
        f"{statistics.median(used):.2f}")


def memory(say: Callable[[str], None], quick: bool, long: bool, scale: float) -> None:
    """Peak memory of a long run and of a run with many clients, each in a fresh process."""
    ops = int((10_000_000 if long else 100_000 if quick else 1_000_000) * scale)
    base, mb, done, wall = peak_memory(LONG, ops / RATE)
    say(f"peak memory of a {done:,}-operation run: {mb:.0f} MB ({base:.0f} MB after imports; {wall:.1f} s)")
    many = {**MANY, "workload": {**MANY["workload"], "clients": max(100, min(10_000, round(10_000 * scale)))}}
    base, mb, done, wall = peak_memory(many, (0.1 if quick else 0.5) * scale)
    say(f"peak memory with {many['workload']['clients']:,} clients ({done:,} operations): {mb:.0f} MB "
        f"({base:.0f} MB after imports; {wall:.1f} s)")
