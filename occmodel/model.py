"""One simulation run: wiring the parts together, and the public `simulate()`.

`Simulation` owns the SimPy environment, the random streams, the store, the network, the
policy, the metrics recorder and the clients of one (scenario, seed, replication). Random
streams are keyed by (seed, replication, stream name[, client]) and never by the sweep point,
which is what makes comparisons across points and policies paired (common random numbers).
"""
from __future__ import annotations

import math
import operator
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Mapping

import numpy as np
import simpy
from simpy.core import BoundClass

from .client import Client, Op
from .config import Scenario, validate_scenario
from .errors import ConfigError
from .distributions import BLOCK, Sampler, blocks
from .guards import MAX_EVENT_RATE, MAX_TIME, PACE_EVERY, Pace, check_bins, check_memory, out_of_time
from .heap import old_objects_frozen
from .metrics import Recorder
from .network import Network
from .policies import build_policy
from .stability import collapsed, last_disturbance, recovery_s
from .store import Server, Store
from .streams import Streams
from .trace import Span
from .units import parse_drain, parse_duration
from . import workload

DEFAULT_DURATION = 10.0
DRAIN_WINDOWS = 10   # "auto" drain: the load may go on for up to this many window lengths


def auto_drain(duration: float) -> float:
    """The drain limit `"auto"` stands for: `DRAIN_WINDOWS` window lengths. The drain ends as soon
    as the last measured operation finishes, so a healthy run pays only for its slowest operation
    (and one under a policy deadline, at most that deadline); the limit matters only for operations
    that outlive the window many times over (unlimited retries under contention: the shipped
    eventstore-vs-fdb at 128 clients has a p99 of 2.5 windows and a max of 5)."""
    return DRAIN_WINDOWS * duration


@dataclass
class Result:
    """What one run measured: `metrics` (DESIGN section 3), the binned time series, the latency
    histogram (bucket upper edges in seconds, counts), the hottest keys' conflict counts and, if
    asked for, one operation's trace."""

    metrics: dict[str, Any]
    timeseries: dict[str, list[float]]
    latency: tuple[np.ndarray, np.ndarray]
    trace: list[Span] | None = None
    keys: dict[str, Any] = field(default_factory=dict)   # the run's part of keys.csv (`KeyStats.saved`)
    breaker_log: list[tuple[float, str, str]] = field(default_factory=list)
    messages: dict[int, tuple[int, int]] = field(default_factory=dict)   # traced op's: (requests, operations)


class Environment(simpy.Environment):
    """SimPy's environment with a cheaper clock: `now` read by a C getter, not a Python property."""

    now = property(operator.attrgetter("_now"))

    def __init__(self) -> None:
        super().__init__()
        # SimPy binds `timeout`, `process`, `event`... to the instance for speed, but only those of
        # the instance's own class: bind the base class's here, or each `env.timeout` pays a descriptor
        for name, obj in vars(simpy.Environment).items():
            if type(obj) is BoundClass:
                setattr(self, name, getattr(self, name))
        # SimPy's event queue and id counter, for a caller that schedules by hand: the lean client
        # (client.Client.lean_operation) waits for the sum of its own delays at that absolute time,
        # as a chain of timeouts would have reached it (`now + delay` rounds differently from the
        # client's running sum), pushing (time, NORMAL, next(ids), event) as `Environment.schedule` does
        self.queue, self.ids = self._queue, self._eid

    def drive(self, generator: Generator, then: Callable[[], None] | None = None) -> None:
        """Run `generator` as a SimPy process would, without the `Process`: its first step now,
        each later one when the event it yielded is processed, `then()` once it returns. No
        Initialize or completion event and a lighter resume, for a process nothing waits on (a
        lean client: its first step now comes where its Initialize event would have, as workload
        processes all start at t = 0 before any other event). Every event it yields succeeds
        (none is sent in), and an exception it raises propagates out of `run`."""
        send = generator.send

        def resume(_: Any) -> None:
            while True:
                try:
                    event = send(None)
                except StopIteration:
                    if then is not None:
                        then()
                    return
                if event.callbacks is not None:      # pending (else already processed: go on)
                    event.callbacks.append(resume)
                    return

        resume(None)

    def waiter(self) -> simpy.Event:
        """A triggered event, not yet scheduled: to be pushed onto `queue` by hand (with fresh
        `callbacks`), and again once it has been processed (one per waiting process)."""
        event = simpy.Event(self)
        event._ok, event._value = True, None
        return event


def events_scheduled(env: simpy.Environment) -> int:
    """Events SimPy has scheduled so far, read off its id counter (free: no per-event hook)."""
    return int(repr(env._eid)[6:-1])


class Simulation:
    def __init__(self, scenario: Scenario, *, seed: int, replication: int, duration: float,
                 warmup: float, bin_width: float, trace_op: int | None = None,
                 stop_after_trace: bool = False, max_time: float = MAX_TIME, drain: float | str = "auto",
                 max_event_rate: float = MAX_EVENT_RATE, lean: bool = True) -> None:
        self.scenario, self.seed, self.replication = scenario, seed, replication
        self.streams = Streams(seed, replication, scenario.workload.clients)
        self.lean = lean     # False: every client takes the general path (`Client.lean` says when it need not)
        self.max_time = max_time   # batch runs: simulated-time limit
        self.env = env = Environment()
        batch = scenario.workload.kind == "batch"
        self.t0, self.end = (0.0, math.inf) if batch else (warmup, warmup + duration)
        self.metrics = Recorder(self.t0, self.end, bin_width, scenario.workload.keys.count)
        # sanity limit on events per simulated second: a retry storm stops with a message, not never
        self.metrics.watch(Pace(max_event_rate, lambda: events_scheduled(env), scenario.workload.kind), PACE_EVERY)
        self.trace_op, self.trace, self.started, self.traced_index = trace_op, None, 0, -1
        self.stop_after_trace = stop_after_trace   # `occmodel trace`: end the run once the op is done
        self.stopped = False
        self.breaker_log: list[tuple[float, str, str]] = []
        st = scenario.store
        self.read_server = Server(env, st.read, self.sampler(st.read.service, "read"), self.t0, self.end)
        self.commit_server = Server(env, st.commit, self.sampler(st.commit.service, "commit"), self.t0, self.end)
        self.store = Store(env, st, self.read_server, self.commit_server, scenario.workload.keys.count,
                           self.uniform("faults"))
        net = scenario.network
        self.network = Network(net)
        if trace_op is not None and net.coalesce:    # a coalesced message may carry other operations' requests
            self.network.tally = {}
        self.policy = build_policy(scenario.policy)
        self.clients: list[Client] = []
        self.client_settings: dict[str, Any] | None = None    # what all clients share (Client.settings)
        self.policy.bind(self)
        self.drain = 0.0 if batch else auto_drain(duration) if drain == "auto" else float(drain)

    # --- random streams ---------------------------------------------------------------------
    def rng(self, stream: str, *extra: int) -> np.random.Generator:
        return self.streams(stream, *extra)

    def sampler(self, dist: Any, stream: str, *extra: int, size: int = BLOCK) -> Sampler | None:
        """A sampler for `dist` on its own stream; None for a constant zero (skip the pause)."""
        if dist.dist == "constant":      # no stream to make: every draw is the value
            return None if dist.value == 0 else dist.sampler(None, size)
        return dist.sampler(self.rng(stream, *extra), size)

    def uniform(self, stream: str, *extra: int, size: int = BLOCK) -> Sampler:
        rng = self.rng(stream, *extra)
        return blocks(lambda n: rng.random(n), size)

    # --- hooks from clients ----------------------------------------------------------------
    def on_start(self, op: Op) -> None:
        """Trace operation number `trace_op` (in start order; -1: the first after warm-up)."""
        if self.trace_op is not None:
            if self.started == self.trace_op or (self.trace_op < 0 and op.start >= self.t0):
                op.trace = self.trace = []
                self.traced_index, self.trace_op = self.started, None
            self.started += 1

    def on_finish(self, op: Op, outcome: int) -> None:
        if op.trace is not None and self.stop_after_trace:
            self.stopped = True
            stop = self.env.event()     # nothing more to see: end the run here
            stop.callbacks.append(simpy.core.StopSimulation.callback)
            stop.succeed()

    # --- running ---------------------------------------------------------------------------
    def run(self) -> Result:
        with old_objects_frozen():
            return self._run()

    def _run(self) -> Result:
        wall = time.perf_counter()
        done = workload.start(self)
        env, recorder = self.env, self.metrics
        if done is not None:
            env.run(until=env.any_of([done, env.timeout(self.max_time)]))
            if not done.triggered:
                w = self.scenario.workload
                raise out_of_time(self.max_time, self.metrics.finished, w.clients * w.ops_per_client)
        else:
            env.run(until=self.end)
            if not self.stopped and self.drain > 0 and recorder.finished < recorder.started:
                # the drain: load goes on until the last measured operation is done, or the limit
                recorder.drained = drained = env.event()
                drained.callbacks.append(simpy.core.StopSimulation.callback)
                env.run(until=self.end + self.drain)
        end = env.now
        self.policy.finish(end)
        span = (min(end, self.end) - self.t0) or math.nan
        utilization = self.commit_server.utilization(span, end) if span == span else math.nan
        metrics = self.metrics.summary(end, utilization)
        batch = self.scenario.workload.kind == "batch"
        metrics["makespan_s"] = self.metrics.last_success if batch else math.nan
        metrics["calls"] = self.metrics.attempts if batch else math.nan
        metrics.update(self.stability())
        metrics["events"] = events_scheduled(self.env)
        metrics["wall_s"] = time.perf_counter() - wall
        return Result(metrics, recorder.timeseries(min(end, self.end)), recorder.latency.nonempty(), self.trace,
                      recorder.keys.saved(), self.breaker_log, self.message_totals())

    def message_totals(self) -> dict[int, tuple[int, int]]:
        """(requests, operations) of every message the traced operation used (coalescing runs)."""
        return self.network.totals({s.message for s in self.trace or [] if s.message is not None})

    def stability(self) -> dict[str, float]:
        """`collapsed` and `recovery_s` from the time series (NaN for batch workloads: no window)."""
        series, width, t0, t1 = self.metrics.series, self.metrics.bin, self.t0, self.end
        starts = series["starts"]
        w = self.scenario.workload
        changes = [s.until for s in w.schedule or []]
        since = last_disturbance([f.end for f in self.scenario.store.faults], changes)
        return {"collapsed": collapsed(starts, series["successes"], width, t0, t1),
                "recovery_s": recovery_s(starts, series["successes_by_start"], width, since, t1)}


def simulate(scenario: Scenario | Mapping[str, Any], *, seed: int, duration: float | str | None = None,
             warmup: float | str = 0, replication: int = 0, bin: float | str = 1.0,
             trace_op: int | None = None, max_time: float | str = MAX_TIME, drain: float | str = "auto",
             max_event_rate: float = MAX_EVENT_RATE, lean: bool = True) -> Result:
    """Run one replication of a scenario and return its `Result` (`metrics`, `timeseries`,
    `latency`, and `trace` when asked for).

    `scenario` is a `Scenario` or a mapping shaped like the experiment file's `[scenario]` table,
    durations written as in the TOML ("250ms"). Its tables, each optional (defaults fill in):
SCENARIO_TABLES
    docs/configuration.md documents every key; `occmodel policies` lists the policy kinds.

    The run simulates warm-up + duration: `warmup` (default 0) is simulated but not measured,
    then the measured window of `duration` (default 10 s); operations that start in the window
    are measured, and the load goes on after it until they are all done or `drain` ("auto": see
    `auto_drain`; a duration; 0 = stop at the window's end) runs out. Batch workloads ignore
    `duration` and run until every operation is done, or fail at `max_time` of simulated time.
    `bin` is the width of a time-series bin (`Result.timeseries`, default 1 s). `trace_op` traces
    one operation attempt by attempt into `Result.trace` (its number in start order, 0-based; -1:
    the first to start after warm-up; None: no trace). `seed` and `replication` pick the random
    streams (common random numbers: the same replication of two scenarios draws the same values).
    A run that schedules more than `max_event_rate` events per simulated second (a retry storm)
    stops. `lean = False` keeps every client on the general path (the lean one, taken where a
    scenario allows, gives identical results: tests and `occmodel bench` compare them). Raises
    `ConfigError` on bad input, its own arguments included.
    """
    if not isinstance(scenario, (Scenario, Mapping)):
        raise ConfigError("scenario", scenario, "expected a Scenario or a mapping shaped like [scenario]")
    sc = validate_scenario(dict(scenario) if not isinstance(scenario, Scenario) else scenario)
    seed, replication = whole("seed", seed), whole("replication", replication)
    dur = DEFAULT_DURATION if duration is None else positive("duration", duration)
    start, width = argument("warmup", warmup), positive("bin", bin)
    if sc.workload.kind != "batch":
        check_bins("bin", width, start + dur)
    if trace_op is not None and (isinstance(trace_op, bool) or not isinstance(trace_op, (int, np.integer))
                                 or trace_op < -1):
        raise ConfigError("trace_op", trace_op, "expected None, an operation number >= 0, or -1 (the first "
                          "operation after the warm-up)")
    check_memory([sc])
    sim = Simulation(sc, seed=seed, replication=replication, duration=dur, warmup=start,
                     bin_width=width, trace_op=trace_op, max_time=positive("max_time", max_time),
                     drain=drain_argument(drain), max_event_rate=rate_argument(max_event_rate), lean=bool(lean))
    return sim.run()


def scenario_tables() -> str:
    """The `[scenario]` tables and their keys, read off `Scenario` (so `help(simulate)` cannot
    drift from what is validated)."""
    lines = []
    for name, f in Scenario.model_fields.items():
        keys = ", ".join(getattr(f.annotation, "model_fields", {})) or 'kind = "...", and the kind\'s keys'
        lines.append(f"      {name:<10} {f.description}: {keys}")
    return "\n".join(lines)


simulate.__doc__ = (simulate.__doc__ or "").replace("SCENARIO_TABLES", scenario_tables())


def whole(name: str, value: Any) -> int:
    """A whole number >= 0 (not a bool, not 1.5), or a `ConfigError` naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(name, value, "expected a whole number >= 0")
    return int(value)


def argument(name: str, value: Any) -> float:
    """A duration argument, as the TOML writes it, or a `ConfigError` naming the argument."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(name, value, str(exc)) from None


def drain_argument(value: Any) -> float | str:
    """The `drain` argument: "auto" or a finite duration, or a `ConfigError` naming it."""
    try:
        return parse_drain(value)
    except ValueError as exc:
        raise ConfigError("drain", value, str(exc)) from None


def rate_argument(value: Any) -> float:
    """The `max_event_rate` argument: a finite number > 0 (events per simulated second)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0 < value < math.inf:
        raise ConfigError("max_event_rate", value, "expected a finite number of events per simulated second > 0")
    return float(value)


def positive(name: str, value: Any) -> float:
    seconds = argument(name, value)
    if seconds <= 0:
        raise ConfigError(name, value, "expected a duration > 0")
    return seconds


__all__ = ["Result", "Simulation", "auto_drain", "simulate"]
