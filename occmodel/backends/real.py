"""Real clients: one replication of one sweep point, run against a real store.

The run is the model's, with the simulated parts replaced by real ones. A fleet of client
processes (`Fleet`, started once per experiment) each runs its share of the clients as asyncio
tasks, one connection per client, so that a client waiting on the store costs no CPU and the
clients of one process share its core. Everything a client decides comes from the model's own
objects: the policy (built by `policies.build_policy`, bound to a `RealRun` whose clock reads
real seconds since the run's origin), the operation state (`client.Op`), the key sampler
(`workload.key_sampler`), think and compute times and backoff jitter, each drawn from the very
streams a model run of the same seed and replication draws (`streams.random_stream`, keyed by
client id): the same clients pick the same keys and the same jitter. Measurement is the model's
`metrics.Recorder`, fed with real times: the population is the operations that started in the
window, the load goes on through the drain until every one of them has finished (across all
processes: a shared counter) or the drain limit passes, `p50_ms ...` are success-only and
`all_*_ms` cover every outcome. The processes' recorders are merged into one (same origin:
CLOCK_MONOTONIC is one clock for the whole machine).

What reality replaces: network and service times, capacities and batching are the store's own
(`replaced` lists the keys a scenario set that a real run cannot follow, for the manifest and the
CLI's note). What it cannot honour is refused before anything runs (`check_scenario`): faults,
message loss, request timeouts and deadlines (a request in flight cannot be abandoned without
closing the connection), open workloads, operation kinds or conflict rules the store's commit does
not implement. Metrics that only the model has (`store_utilization`, `mean_version_gap`: a
conflict reply does not say the current version; `events`) are NaN.

Diagnostics for each run (`diagnostics` in its saved file, `diagnostics.csv`): the CPU the client
processes used, how late their event loops woke (a 1 ms tick: the scheduling delay every measured
latency includes), the machine's busy cores (/proc/stat) and, where the store says, its own CPU:
the measurements that tell a disagreement with the model caused by the client machine from one
caused by the store. Every loop is bounded: the connect phase, each run (window + drain, or
`experiment.max_time` for batch), and a store that answers nothing for `STALL_S` ends the run with
a `StoreError`.
"""
from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import resource
import time
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterator

import numpy as np

from ..client import Op, block_size, free_retry
from ..config import Network, Scenario, Server, Store
from ..distributions import BLOCK, Sampler, blocks
from ..errors import ConfigError
from ..executors import die_with_parent
from ..metrics import Recorder, merge_recorders
from ..streams import random_stream
from ..outcomes import CONFLICT, OK, REJECTED
from ..policies import Policy, Wrapper, build_policy
from ..stability import collapsed, recovery_s
from ..workload import key_sampler
from .base import Backend, Session, StoreError

MAX_CLIENTS = 1024         # connections a run opens; more is a load test of the machine, not of the store
STALL_S = 10.0             # a store that answers nothing for this long has stopped working
TICK_S = 0.001             # the watcher's period: drain checks and the event-loop lag probe
CONNECT_S = 30.0           # the connect phase of a run (every client's connection open)
START_MARGIN_S = 0.05      # from "all connected" to the run's origin, so every process starts together
TEARDOWN_S = 30.0          # beyond a run's own limit, before its processes count as lost


# --- what a real store cannot do --------------------------------------------------------------
def check_scenario(scenario: Scenario, backend: Backend, where: str = "scenario") -> list[str]:
    """Refuse (`ConfigError`) what a real run cannot honour; return the keys set in `scenario`
    whose values reality replaces (the store's own latency and capacity)."""
    w, op, st, net = scenario.workload, scenario.operation, scenario.store, scenario.network
    if w.kind not in ("closed", "batch"):
        raise ConfigError(f"{where}.workload.kind", w.kind, "a real store is driven by closed or batch clients "
                          "(each client owns one connection); run open workloads on the model")
    if w.clients > MAX_CLIENTS:
        raise ConfigError(f"{where}.workload.clients", w.clients, f"a real run opens one connection per client: "
                          f"at most {MAX_CLIENTS}")
    if st.faults:
        raise ConfigError(f"{where}.store.faults", [f.kind for f in st.faults], "a real store cannot be made to fail "
                          "on a schedule: remove the faults to run against it (they stay a model study)")
    if net.loss:
        raise ConfigError(f"{where}.network.loss", net.loss, "the real network's losses are its own: set 0 to run "
                          "against a real store")
    if op.timeout:
        raise ConfigError(f"{where}.operation.timeout", op.timeout, "request timeouts are not honoured against a "
                          "real store (a request in flight cannot be abandoned without closing the connection): set 0")
    if op.kind not in backend.operations:
        raise ConfigError(f"{where}.operation.kind", op.kind, f"{backend.kind} runs the operation kinds "
                          f"{', '.join(sorted(backend.operations))}")
    if op.writes < 1 or op.writes > op.reads:
        raise ConfigError(f"{where}.operation.writes", op.writes, f"a real commit writes 1 to reads ({op.reads}) of "
                          "the keys it read")
    if st.conflict not in backend.conflicts and not (st.conflict == "read_set" and op.reads == op.writes):
        raise ConfigError(f"{where}.store.conflict", st.conflict, f"{backend.kind}'s commit implements "
                          f"{', '.join(sorted(backend.conflicts))} (read_set only when every key read is written)")
    policy = bind_check(scenario)
    if policy.hedging() is not None:
        raise ConfigError(f"{where}.policy.kind", "hedge", "a hedged round trip sends copies on connections of their "
                          "own while the first is in flight: not run against a real store")
    if policy.deadline:
        raise ConfigError(f"{where}.policy.deadline", policy.deadline, "deadlines are not honoured against a real "
                          "store (an attempt in flight cannot be cut off without closing the connection): set 0")
    network, server, store = Network(), Server(), Store()
    replaced = []
    for key, mine, base in (("network.one_way", net.one_way, network.one_way),
                            ("network.coalesce", net.coalesce, network.coalesce),
                            ("store.read", st.read, server), ("store.commit", st.commit, server),
                            ("store.history", st.history, store.history)):
        if mine != base:
            replaced.append(key)
    if st.conflict == "read_set" and st.mvcc_window != store.mvcc_window:
        replaced.append("store.mvcc_window")
    return replaced


def bind_check(scenario: Scenario) -> Policy:
    """The scenario's policy bound to a throwaway run: what its limits resolve to."""
    policy = build_policy(scenario.policy)
    policy.bind(RealRun(scenario, 0, 0, 0.0, 1.0, 1.0))
    return policy


def shared_by_all(policy: Policy) -> bool:
    """Whether some part of the policy keeps state shared by every client (`scope = "global"`),
    which only clients in one process can share."""
    while True:
        if getattr(policy, "scope", None) == "global":
            return True
        if not isinstance(policy, Wrapper):
            return False
        policy = policy.wrapped


# --- the run a policy binds to --------------------------------------------------------------
class Clock:
    """`now`: real seconds since the run's origin (time.monotonic, one clock for every process)."""

    __slots__ = ("origin",)

    def __init__(self) -> None:
        self.origin = time.monotonic()

    @property
    def now(self) -> float:
        return time.monotonic() - self.origin


class RealRun:
    """Stands where `model.Simulation` stands for a policy (`Policy.bind`): the clock (`env`), the
    recorder (`metrics`), the breaker log and the scenario; and gives the same random streams."""

    def __init__(self, scenario: Scenario, seed: int, replication: int, t0: float, t1: float, bin_width: float) -> None:
        self.scenario, self.seed, self.replication = scenario, seed, replication
        self.env = Clock()
        self.metrics = Recorder(t0, t1, bin_width, scenario.workload.keys.count)
        self.breaker_log: list[tuple[float, str, str]] = []

    def rng(self, stream: str, *extra: int) -> np.random.Generator:
        return random_stream(self.seed, self.replication, stream, *extra)

    def sampler(self, dist: Any, stream: str, *extra: int, size: int = BLOCK) -> Sampler | None:
        if dist.dist == "constant" and dist.value == 0:
            return None
        return dist.sampler(self.rng(stream, *extra), size)

    def uniform(self, stream: str, *extra: int, size: int = BLOCK) -> Sampler:
        rng = self.rng(stream, *extra)
        return blocks(lambda n: rng.random(n), size)


# --- one client --------------------------------------------------------------------------
class RealClient:
    """A model client's retry loop (`client.Client.operation`) over a real connection."""

    def __init__(self, run: RealRun, policy: Policy, cid: int, session: Session) -> None:
        self.id, self.run, self.policy, self.session = cid, run, policy, session
        self.clock, self.metrics = run.env, run.metrics
        sc = run.scenario
        self.block = size = block_size(sc.workload.clients)
        op = sc.operation
        self.nreads, self.nwrites = op.reads, op.writes
        self.pipelined = sc.network.pipelining and op.reads > 1
        self.value_check = op.kind == "value_check"
        self.free_retries = op.value_check_retries
        watched = op.reads if sc.store.conflict == "read_set" else op.writes
        self.single = watched == 1      # a conflict can only be on the operation's first key
        self.compute = run.sampler(op.compute, "compute", cid, size=size)
        self.cache: dict[int, int] = {}
        self.round_trips = 0
        self.sent = -1.0      # when the request now awaiting its reply was sent (-1: none)
        self.last = 0.0       # when this client's latest operation finished
        kind = type(policy)
        self.admits = kind.admit is not Policy.admit
        self.records = kind.record is not Policy.record

    def jitter(self) -> float:
        """The model client's jitter stream (same seed, replication, client id, block size)."""
        self.jitter = draw = self.run.uniform("jitter", self.id, size=self.block)  # type: ignore[method-assign]
        return draw()

    async def operation(self, keys: tuple[int, ...]) -> int:
        clock, policy, metrics = self.clock, self.policy, self.metrics
        op = Op(keys, clock.now, self)    # type: ignore[arg-type]   (duck-typed: id, jitter)
        metrics.start(op.start)
        while True:
            if self.admits and not policy.admit(op):
                outcome = REJECTED
                break
            outcome = await self.attempt(op)
            # the version gap is unknown (a conflict reply does not say the current version), the
            # conflicting key known only when the commit checked a single key
            metrics.attempt(op.start, clock.now, outcome, 0, op.optimistic, keys, keys[0] if self.single else -1)
            if self.records:
                policy.record(op, outcome)
            if outcome == OK:
                break
            if op.optimistic and free_retry(op, outcome, self.free_retries):
                continue
            delay = policy.retry_delay(op, outcome)
            if delay is None:
                break
            if delay < 0:
                outcome = REJECTED
                break
            metrics.retry(clock.now)
            await asyncio.sleep(delay)    # 0: yield to the other clients, as a real retry loop would
        self.last = now = clock.now
        metrics.finish(op.start, now, outcome, keys)
        return outcome

    async def attempt(self, op: Op) -> int:
        op.attempts += 1
        op.tries += 1
        op.optimistic = False
        keys, nreads, nwrites = op.keys, self.nreads, self.nwrites
        if self.value_check and op.tries == 1:
            cached = [self.cache.get(k) for k in keys[:nreads]]
            if None not in cached:
                op.versions[:nreads] = cached
                op.optimistic = True
        clock, session = self.clock, self.session
        if not op.optimistic:
            if self.pipelined or nreads == 1:
                self.sent = clock.now
                op.versions[:nreads] = await session.read(keys[:nreads], nwrites)
                self.round_trips += 1
            else:
                for i in range(nreads):
                    self.sent = clock.now
                    op.versions[i:i + 1] = await session.read(keys[i:i + 1], 1 if i < nwrites else 0)
                    self.round_trips += 1
            self.sent = -1.0
            if self.value_check:
                for i in range(nreads):
                    self.cache[keys[i]] = op.versions[i]
        if self.compute is not None:
            pause = self.compute()
            if pause:
                await asyncio.sleep(pause)
        self.sent = clock.now
        ok = await session.commit(keys, op.versions, nwrites)
        self.sent = -1.0
        self.round_trips += 1
        if ok and self.value_check:
            for i in range(nwrites):
                self.cache[keys[i]] = op.versions[i] + 1
        return OK if ok else CONFLICT


# --- one process's share of a run ----------------------------------------------------------
@dataclass
class Job:
    """One replication of one point for one client process (`clients`: the ids it runs)."""

    scenario: Scenario
    seed: int
    replication: int
    duration: float
    warmup: float
    bin: float
    drain: float
    max_time: float
    clients: list[int] = field(default_factory=list)

    @property
    def batch(self) -> bool:
        return self.scenario.workload.kind == "batch"

    def window(self) -> tuple[float, float]:
        return (0.0, math.inf) if self.batch else (self.warmup, self.warmup + self.duration)


@dataclass
class Shared:
    """Cross-process state of a run: measured operations still unfinished (by process), and flags."""

    pending: Any            # multiprocessing.Value: processes whose measured operations are not all done
    drained: Any            # multiprocessing.Event: set when pending reaches 0
    abort: Any              # multiprocessing.Event: the parent stops the run (another process failed)


class Aborted(Exception):
    """The parent stopped this process's share of a run."""


async def drive(job: Job, backend: Backend, conn: Connection, shared: Shared) -> dict[str, Any]:
    """Connect this process's clients, wait for the origin, run, and return the recorder's state."""
    sc = job.scenario
    t0, t1 = job.window()
    run = RealRun(sc, job.seed, job.replication, t0, t1, job.bin)
    policy = build_policy(sc.policy)
    policy.bind(run)    # type: ignore[arg-type]   (a RealRun stands for the Simulation)
    sessions: list[Session] = []
    try:
        for _ in job.clients:
            sessions.append(await backend.session(sc.store.conflict))
        conn.send(("ready", None))
        origin = conn.recv()          # blocking on purpose: nothing runs in this loop yet
        if origin is None:
            raise Aborted
        run.env.origin = origin
        clients = [RealClient(run, policy, cid, s) for cid, s in zip(job.clients, sessions)]
        await asyncio.sleep(max(0.0, origin - time.monotonic()))
        return await load(job, run, policy, clients, shared)
    finally:
        for s in sessions:
            try:
                await s.close()
            except Exception:    # noqa: BLE001 - the connection is going away either way
                pass


async def load(job: Job, run: RealRun, policy: Policy, clients: list[RealClient], shared: Shared) -> dict[str, Any]:
    sc, clock, metrics = job.scenario, run.env, run.metrics
    w = sc.workload
    distinct = max(1, sc.operation.reads, sc.operation.writes)
    cpu0, wall0 = cpu_s(), time.monotonic()
    stop = asyncio.Event()

    async def closed(c: RealClient) -> None:
        keys = key_sampler(w.keys, run.rng("keys", c.id), distinct, c.block, (c.id, w.clients))
        think = run.sampler(w.think, "think", c.id, size=c.block)
        while not stop.is_set():
            await c.operation(keys())
            if think is not None:
                pause = think()
                if pause:
                    await asyncio.sleep(pause)

    async def batch(c: RealClient) -> None:
        keys = key_sampler(w.keys, run.rng("keys", c.id), distinct, c.block, (c.id, w.clients))
        think = run.sampler(w.think, "think", c.id, size=c.block)
        for i in range(w.ops_per_client):
            if i and think is not None:
                pause = think()
                if pause:
                    await asyncio.sleep(pause)
            await c.operation(keys())

    tasks = [asyncio.ensure_future((batch if job.batch else closed)(c)) for c in clients]
    t1 = job.window()[1]
    lags: list[float] = []
    signalled = False
    try:
        while True:
            planned = time.monotonic() + TICK_S
            await asyncio.sleep(TICK_S)
            lags.append(time.monotonic() - planned)
            now = clock.now
            for t in tasks:
                if t.done() and not t.cancelled() and t.exception() is not None:
                    raise t.exception()   # type: ignore[misc]
            if shared.abort.is_set():
                raise Aborted
            if len(lags) % 100 == 0:
                oldest = min((c.sent for c in clients if c.sent >= 0), default=now)
                if now - oldest > STALL_S:
                    raise TimeoutError(f"a request got no reply for {STALL_S:g} s")
            if job.batch:
                if all(t.done() for t in tasks):
                    break
                if now >= job.max_time:
                    left = len(clients) * w.ops_per_client - metrics.finished
                    raise ConfigError("experiment.max_time", f"{job.max_time:g}s", f"the batch run against the "
                                      f"store reached this limit (real seconds) with {left} operations of one "
                                      "client process unfinished; raise experiment.max_time or bound the retries")
                continue
            if now >= t1:
                if not signalled and metrics.finished == metrics.started:
                    signalled = True
                    with shared.pending.get_lock():
                        shared.pending.value -= 1
                        if shared.pending.value == 0:
                            shared.drained.set()
                if shared.drained.is_set() or now >= t1 + job.drain:
                    break
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    # a batch ends when its last operation does (as the model's), not at the watcher's next tick
    end = max(c.last for c in clients) if job.batch else clock.now
    policy.finish(end)
    metrics.fold()
    lag = np.asarray(lags) if lags else np.zeros(1)
    return {"recorder": metrics, "end": end, "cpu_s": cpu_s() - cpu0, "wall_s": time.monotonic() - wall0,
            "lag_p50_ms": float(np.percentile(lag, 50)) * 1e3, "lag_p99_ms": float(np.percentile(lag, 99)) * 1e3,
            "round_trips": sum(c.round_trips for c in clients)}


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(conn: Connection, backend: Backend, shared: Shared, parent: int) -> None:
    """A client process: run jobs from the parent until it sends None."""
    die_with_parent(parent)
    # a run ends by cancelling the clients' requests in flight, which psycopg reports as a warning
    # per connection: expected here, and the run's own outcome says what happened
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            conn.send(("done", asyncio.run(drive(job, backend, conn, shared))))
        except Aborted:
            conn.send(("aborted", None))
        except ConfigError as exc:
            conn.send(("config", exc))
        except backend.failures + (TimeoutError, ConnectionError) as exc:
            conn.send(("failed", backend.describe_failure(exc)))
        except Exception as exc:    # noqa: BLE001 - reported to the parent, which ends the command
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))


# --- the parent's side ---------------------------------------------------------------------
class Fleet:
    """`processes` client processes for the runs of one experiment against one store."""

    def __init__(self, backend: Backend, processes: int) -> None:
        self.backend, self.size = backend, processes
        context = multiprocessing.get_context("fork")
        self.shared = Shared(context.Value("i", 0), context.Event(), context.Event())
        self.conns: list[Connection] = []
        self.procs = []
        for _ in range(processes):
            mine, theirs = context.Pipe()
            proc = context.Process(target=worker, args=(theirs, backend, self.shared, os.getpid()), daemon=True)
            proc.start()
            theirs.close()
            self.conns.append(mine)
            self.procs.append(proc)

    def close(self) -> None:
        for conn, proc in zip(self.conns, self.procs):
            try:
                conn.send(None)
            except OSError:
                pass
            proc.join(timeout=2)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=2)

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def run(self, job: Job, where: str) -> dict[str, Any]:
        """One replication of one point (`where` names it in messages): the run's saved outcome."""
        w = job.scenario.workload
        used = min(self.size, w.clients)
        groups = [list(range(i, w.clients, used)) for i in range(used)]
        conns = self.conns[:used]
        self.backend.reset(w.keys.count)
        server0, machine0 = self.backend.server_cpu_s(), machine_busy()
        sh = self.shared
        sh.pending.value = used
        sh.drained.clear()
        sh.abort.clear()
        for conn, ids in zip(conns, groups):
            conn.send(replace(job, clients=ids))
        ready, error = self.collect(conns, CONNECT_S, where, expect="ready")
        if error is not None:     # a process could not connect: release the others, then report
            for conn in ready:
                conn.send(None)
            self.collect(list(ready), CONNECT_S, where)
            raise error
        origin = time.monotonic() + START_MARGIN_S
        for conn in conns:
            conn.send(origin)
        limit = (job.max_time if job.batch else job.warmup + job.duration + job.drain) + TEARDOWN_S
        parts, error = self.collect(conns, limit + START_MARGIN_S, where)
        if error is not None:
            raise error
        return outcome(job, [parts[c] for c in conns], self.backend.server_cpu_s(), server0, machine0, used)

    def collect(self, conns: list[Connection], limit_s: float, where: str,
                expect: str = "done") -> tuple[dict[Connection, Any], ConfigError | None]:
        """Every process's answer within `limit_s`, and the first failure (which stops the others)."""
        deadline = time.monotonic() + limit_s
        got: dict[Connection, Any] = {}
        error: ConfigError | None = None
        waiting = list(conns)
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                self.shared.abort.set()
                return got, self.failure(where, f"the client processes did not finish within {limit_s:.0f} s")
            for conn in wait(waiting, timeout=left):
                waiting.remove(conn)
                try:
                    kind, value = conn.recv()
                except (EOFError, OSError):
                    kind, value = "failed", "a client process died"
                if kind == expect:
                    got[conn] = value
                elif kind in ("config", "failed") and error is None:
                    error = value if kind == "config" else self.failure(where, value)
                    self.shared.abort.set()
        return got, error

    def failure(self, where: str, problem: str) -> StoreError:
        return self.backend.fail(f"the run of {where} failed: {problem}")


def outcome(job: Job, parts: list[dict[str, Any]], server1: float | None, server0: float | None,
            machine0: tuple[float, float] | None, processes: int) -> dict[str, Any]:
    """The merged processes' results, shaped as a model run's saved outcome (+ diagnostics)."""
    recorder = merge_recorders([p["recorder"] for p in parts])
    end = max(p["end"] for p in parts)
    metrics = recorder.summary(end, math.nan)
    for name in ("mean_version_gap", "p50_version_gap", "p99_version_gap", "max_version_gap"):
        metrics[name] = math.nan                # a conflict reply does not say the current version
    metrics["makespan_s"] = recorder.last_success if job.batch else math.nan
    metrics["calls"] = recorder.attempts if job.batch else math.nan
    t0, t1 = job.window()
    series = recorder.series
    metrics["collapsed"] = math.nan if job.batch else collapsed(series["starts"], series["successes"], job.bin, t0, t1)
    metrics["recovery_s"] = math.nan if job.batch else recovery_s(series["starts"], series["successes_by_start"],
                                                                  job.bin, None, t1)
    metrics["events"] = math.nan
    wall = max(p["wall_s"] for p in parts)
    metrics["wall_s"] = wall
    edges, counts = recorder.latency.nonempty()
    machine1 = machine_busy()
    diagnostics = {
        "processes": processes,
        "client_cpu": sum(p["cpu_s"] for p in parts) / wall if wall else math.nan,
        "server_cpu": (server1 - server0) / wall if server0 is not None and server1 is not None and wall else math.nan,
        "machine_busy": busy_between(machine0, machine1),
        "loop_lag_p50_ms": float(np.median([p["lag_p50_ms"] for p in parts])),
        "loop_lag_p99_ms": max(p["lag_p99_ms"] for p in parts),
        "round_trips_per_s": sum(p["round_trips"] for p in parts) / wall if wall else math.nan,
    }
    return {"metrics": metrics, "timeseries": recorder.timeseries(min(end, recorder.t1)),
            "latency": [[float(e) * 1e3, int(c)] for e, c in zip(edges.tolist(), counts.tolist())],
            "keys": recorder.keys.saved(), "diagnostics": diagnostics}


DIAGNOSTICS = ("processes", "client_cpu", "server_cpu", "machine_busy", "loop_lag_p50_ms", "loop_lag_p99_ms",
               "round_trips_per_s")


def machine_busy() -> tuple[float, float] | None:
    """(busy, total) jiffies of all cores so far (/proc/stat), or None where there is none."""
    try:
        with open("/proc/stat") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def busy_between(before: tuple[float, float] | None, after: tuple[float, float] | None) -> float:
    """Cores busy on average between two `machine_busy` readings (2.0 = both of 2 cores)."""
    if before is None or after is None or after[1] <= before[1]:
        return math.nan
    return (after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1)


def run_points(backend: Backend, tasks: dict[tuple[int, int], Job], processes: int,
               names: Callable[[tuple[int, int]], str]) -> Iterator[tuple[tuple[int, int], dict[str, Any]]]:
    """Yield (key, outcome) for each task in order, one run at a time (runs never overlap: they
    would share the store and the cores)."""
    if not tasks:
        return
    with Fleet(backend, processes) as fleet:
        for key, job in tasks.items():
            yield key, fleet.run(job, names(key))
