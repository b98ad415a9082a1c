"""Calibration: a real store's read and commit round trips at low load, as the model's input.

`occmodel calibrate URL --out DIR` (DESIGN 6.5) drives the store with one client, one attempt
at a time, exactly as a real run's client does (the same `Session.read` / `Session.commit`
round trips, on one key, no conflicts: nobody else writes), and keeps each round trip's time as
seen by the client: what the model's `store.read` and `store.commit` must reproduce for a
model client to see what a real one sees. Written to DIR, only after every sample is in (a bad
URL, an unreachable store or one that dies mid-way writes nothing):

- `read.csv`, `commit.csv`: one column `round_trip_ms` (to the ns), one row per sample (the `empirical`
  distribution's `csv`, `column`, `unit = "ms"`);
- `calibrated.toml`: an experiment whose scenario uses them (relative paths: they resolve
  against the file's folder), one client on one key; its header says what was measured;
- `calibration.json`: the store, the quantiles, and what the round trips contain besides the
  store's work: the server's CPU per attempt (its own figure: Redis INFO, PostgreSQL's
  processes in /proc), the calibrating client's own CPU per attempt (a real run's client does
  more per attempt: its diagnostics say how much) and how late this machine wakes a sleeping
  client (a 1 ms sleep's lateness: the scheduling delay every measured latency includes).

The calibrated scenario is a pure-delay store: each round trip is one draw of its measured
distribution, with no queue (unlimited capacity). That is what a low-load measurement can say;
what it cannot say (how the store and the client machine slow down when many clients share the
cores) is what docs/validation.md's "Model against reality" measures.
"""
from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..results import LOCK, locked, read_json, write_atomic, write_csv, write_json
from .base import Backend, StoreError
from .real import cpu_s

SAMPLES = 2000            # attempts measured (each one read and one commit round trip)
WARMUP = 200              # attempts first, not kept (connection set-up, prepared statements, caches)
LAG_PROBES = 500          # 1 ms sleeps whose lateness measures the client machine's scheduling delay
LAG_SLEEP_S = 0.001
COLUMN = "round_trip_ms"
FILES = ("read.csv", "commit.csv", "calibrated.toml", "calibration.json")
QUANTILES = (0.5, 0.9, 0.99, 0.999)


@dataclass
class Measured:
    """What one calibration measured: round trips in seconds, CPU and lag figures."""

    read_s: np.ndarray
    commit_s: np.ndarray
    server_cpu_per_attempt_ms: float | None
    client_cpu_per_attempt_ms: float
    lag_ms: np.ndarray
    wall_s: float


async def sample(backend: Backend, samples: int,
                 warmup: int) -> tuple[np.ndarray, np.ndarray, float | None, float, float]:
    """`samples` attempts (read, then commit what was read) by one client on key 0: the round
    trips (s), the server's and this client's CPU per attempt (ms) and the wall time (s)."""
    session = await backend.session("expected_version")
    read = np.empty(samples)
    commit = np.empty(samples)
    clock = time.perf_counter
    try:
        for i in range(-warmup, samples):
            if i == 0:
                cpu0, mine0, wall0 = backend.server_cpu_s(), cpu_s(), clock()
            t0 = clock()
            seen = await session.read([0], 1)
            t1 = clock()
            ok = await session.commit([0], seen, 1)
            t2 = clock()
            if not ok:
                raise backend.fail("a commit conflicted although only the calibrating client writes: another client "
                                   "is using the store; calibrate on a store nothing else writes to")
            if i >= 0:
                read[i], commit[i] = t1 - t0, t2 - t1
        wall, mine = clock() - wall0, cpu_s() - mine0
        cpu1 = backend.server_cpu_s()
    finally:
        await session.close()
    per_attempt = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / samples * 1e3
    return read, commit, per_attempt, mine / samples * 1e3, wall


async def lag(probes: int) -> np.ndarray:
    """How late a 1 ms sleep wakes this process (ms), `probes` times."""
    late = np.empty(probes)
    for i in range(probes):
        planned = time.monotonic() + LAG_SLEEP_S
        await asyncio.sleep(LAG_SLEEP_S)
        late[i] = (time.monotonic() - planned) * 1e3
    return late


def measure(backend: Backend, samples: int = SAMPLES, warmup: int = WARMUP) -> Measured:
    """Check the store, then sample it; a `StoreError` if it does not answer or stops answering."""
    backend.check()
    backend.reset(1)
    try:
        read, commit, cpu, mine, wall = asyncio.run(sample(backend, samples, warmup))
    except StoreError:
        raise
    except backend.failures + (TimeoutError, ConnectionError) as exc:
        raise backend.fail(f"the store stopped answering during calibration ({backend.describe_failure(exc)}); "
                           "nothing was written") from None
    finally:
        try:
            backend.reset(1)
        except StoreError:
            pass
    return Measured(read, commit, cpu, mine, asyncio.run(lag(LAG_PROBES)), wall)


def quantiles_ms(values_s: np.ndarray) -> dict[str, float]:
    q = np.quantile(values_s, QUANTILES) * 1e3
    return {"mean": float(values_s.mean() * 1e3), **{f"p{100 * p:g}": float(v) for p, v in zip(QUANTILES, q)}}


def claim(out: Path, kind: str, force: bool, option: str = "--out") -> None:
    """Refuse a directory that holds an experiment's results (as `run` refuses one that holds
    another experiment's) or another store's calibration, unless `force`; a calibration of the
    same kind of store is replaced (re-calibrating is the point)."""
    if force or not out.exists():
        return
    for marker in (out / "manifest.json", out / "runs" / "owner"):
        if marker.exists():
            try:
                name = read_json(marker).get("name")
            except (ConfigError, AttributeError):
                name = None
            raise ConfigError(option, str(out), f"holds the results of experiment {name!r}, not a calibration: "
                                                "choose another directory, or pass --force to write the "
                                                f"calibration ({', '.join(FILES)}) there anyway")
    held = out / "calibration.json"
    if held.exists():
        try:
            was = read_json(held).get("backend")
        except (ConfigError, AttributeError):
            was = None
        if was != kind:
            raise ConfigError(option, str(out), f"holds a calibration of {was!r}, not of {kind!r}: choose another "
                                                "directory, or pass --force to replace it")


def scenario_text(kind: str, shown: str, m: Measured, command: str) -> str:
    """The calibrated experiment: one client, one key, each round trip one draw of its samples."""
    r, c = quantiles_ms(m.read_s), quantiles_ms(m.commit_s)
    cpu = "not reported by the server" if m.server_cpu_per_attempt_ms is None else \
        f"{m.server_cpu_per_attempt_ms:.4g} ms per attempt"
    cpu += f" (the client's: {m.client_cpu_per_attempt_ms:.4g} ms)"
    lag_p50, lag_p99 = np.quantile(m.lag_ms, [0.5, 0.99])
    return f'''# Calibrated on {shown} ({kind}) by: {command}
# {len(m.read_s)} attempts by one client at a time, one key, no conflicts (after {WARMUP} not kept).
# read round trip:   p50 {r["p50"]:.4g} ms, p99 {r["p99"]:.4g} ms, mean {r["mean"]:.4g} ms
# commit round trip: p50 {c["p50"]:.4g} ms, p99 {c["p99"]:.4g} ms, mean {c["mean"]:.4g} ms
# server CPU: {cpu}; this machine wakes a 1 ms sleep {lag_p50:.3g} ms late (p50), {lag_p99:.3g} ms (p99)
# Each round trip is one draw of its measured samples (client, network and server time together),
# with no queue: a low-load measurement says nothing of how the store and the client machine slow
# down when many clients share them (calibration.json has the figures; docs/validation.md compares).
[experiment]
name = "calibrated-{kind}"
seed = 1
replications = 3
duration = "2s"
warmup = "0.2s"
bin = "0.5s"

[scenario.workload]
kind = "closed"
clients = 1
keys = {{count = 1}}

[scenario.store]
conflict = "expected_version"
read = {{service = {{dist = "empirical", csv = "read.csv", column = "{COLUMN}", unit = "ms"}}}}
commit = {{service = {{dist = "empirical", csv = "commit.csv", column = "{COLUMN}", unit = "ms"}}}}

[scenario.policy]
kind = "jitter"
base = "1ms"
cap = "100ms"
max_attempts = 0
'''


def calibrate(backend: Backend, out: Path, *, samples: int = SAMPLES, force: bool = False,
              command: str = "occmodel calibrate", option: str = "--out") -> dict[str, Any]:
    """Measure, then write the four files into `out`; returns calibration.json's content."""
    claim(out, backend.kind, force, option)
    try:
        m = measure(backend, samples)
    except StoreError as exc:      # named as the command names it: its URL argument
        raise ConfigError("URL", exc.value, exc.allowed) from None
    info = {"backend": backend.kind, "url": backend.url.shown, "command": command, "samples": samples,
            "warmup": WARMUP, "wall_s": m.wall_s, "read_ms": quantiles_ms(m.read_s),
            "commit_ms": quantiles_ms(m.commit_s), "server_cpu_per_attempt_ms": m.server_cpu_per_attempt_ms,
            "client_cpu_per_attempt_ms": m.client_cpu_per_attempt_ms,
            "client_lag_ms": {"sleep_ms": LAG_SLEEP_S * 1e3, "probes": LAG_PROBES,
                              "p50": float(np.quantile(m.lag_ms, 0.5)), "p99": float(np.quantile(m.lag_ms, 0.99))},
            "machine": machine()}
    lock_left = (out / LOCK).exists()
    with locked(out, option):
        write_csv(out / "read.csv", [COLUMN], ({COLUMN: round(v * 1e3, 6)} for v in m.read_s.tolist()))
        write_csv(out / "commit.csv", [COLUMN], ({COLUMN: round(v * 1e3, 6)} for v in m.commit_s.tolist()))
        write_atomic(out / "calibrated.toml", scenario_text(backend.kind, backend.url.shown, m, command))
        write_json(out / "calibration.json", info)
    if not lock_left:     # a calibration directory is shipped with configs: leave no lock file of ours
        (out / LOCK).unlink(missing_ok=True)
    return info


def machine() -> dict[str, Any]:
    """The client machine the figures come from (cores, CPU model, load when measured)."""
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    return {"cores": os.cpu_count(), "cpu": model, "load_1min": load}

