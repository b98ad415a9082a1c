"""Guards against runs that would never end or would not fit in memory.

A model can be valid and still be unrunnable: a closed client whose every operation is refused
at once by an open circuit breaker (think time 0) loops forever at one instant, because a
rejection costs no simulated time; a batch whose operations never succeed runs forever in
simulated time; a retry storm in an open workload (arrivals keep coming while every operation
retries without end) schedules ever more events per simulated second, so the run's wall time
grows without bound; a scenario with ten million clients needs more memory than the machine has.
These checks stop such runs with a `ConfigError` naming the key to change, instead of hanging or
being killed by the kernel. They cost nothing per event: the spin check runs once per finished
closed-loop operation (one comparison), the pace check once per `PACE_EVERY` operation starts and
retries (a countdown in the recorder), and the others once per run.

Decision (documented in README, "Model notes"): a zero-time loop is detected and stopped, not
given an invented cost. A fast-fail that costs nothing is what the configured model says; any
cost chosen here would be a silent change of the model, whereas the message tells the user
which knob (`workload.think`, the breaker) makes the scenario meaningful.
"""
from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, Callable

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Scenario

# operations one closed client may finish at one simulated instant before the run is declared stuck
SPIN_LIMIT = 100_000
# default simulated-time limit of a batch run (`experiment.max_time`), seconds
MAX_TIME = 3600.0
# default sanity limit on events per simulated second (`experiment.max_event_rate`): at the
# simulator's ~10^5 events per wall second, a simulated second at the limit takes ~100 s of wall
# time. The open-arrival limit (MAX_RATE, 10^6/s) at ~10 events per operation meets it; heavier
# operations at that rate need it raised (the message says so)
MAX_EVENT_RATE = 1e7
PACE_EVERY = 4096          # operation starts + retries between two looks at the event count
PACE_EVENTS = 250_000      # the rate is judged over at least this many events (~2 s of wall time)
# time-series bins of one run (a dozen series of them: ~100 MB at the limit). A closed or open
# run's window is checked before it starts; a batch run's series grow with the run
MAX_BINS = 1_000_000
# memory estimate per simulated client and per key, bytes (see tests/test_guards.py, slow test:
# a closed client measured 3.4 KB on the lean path and 4.0 KB on the general one, issue 18's store)
BYTES_PER_CLIENT = 6_000
BYTES_PER_KEY = 64
BYTES_BASE = 2_000_000


def stalled(now: float, think: bool) -> ConfigError:
    """The error for a closed client that ran `SPIN_LIMIT` operations without time passing."""
    return ConfigError("scenario.workload.think", "0s" if not think else "(a draw of 0)",
                       f"a closed client finished {SPIN_LIMIT} operations at t = {now:g} s without simulated "
                       "time passing: operations that fail at once (a circuit breaker that is open, scope "
                       "client or global, rejects without waiting) cost no time, so the clock never advances. "
                       "Give workload.think a positive value, or use a breaker (circuit_breaker cooldown) "
                       "that does not refuse every call")


def retry_stalled(now: float) -> ConfigError:
    """The error for an operation retried `SPIN_LIMIT` times at zero delay without time passing."""
    return ConfigError("scenario.policy", "(zero-delay retries)",
                       f"an operation was retried {SPIN_LIMIT} times at t = {now:g} s without simulated time "
                       "passing: its attempts take no time (network.one_way, the service times and "
                       "operation.compute are all 0) and the policy's delay is 0. Give a delay a positive value "
                       "or bound policy.max_attempts")


def out_of_time(max_time: float, done: int, total: int) -> ConfigError:
    """The error for a batch run that reached `experiment.max_time` with operations unfinished."""
    return ConfigError("experiment.max_time", f"{max_time:g}s",
                       f"the batch run reached this simulated-time limit with {total - done} of {total} "
                       "operations unfinished (retries that never succeed? policy.max_attempts = 0 is "
                       "unlimited); raise experiment.max_time or bound the retries")


def check_bins(key: str, bin_width: float, window: float) -> None:
    """Refuse a window (warmup + duration) that would need more than `MAX_BINS` bins of `bin_width`."""
    if window / bin_width > MAX_BINS:
        raise ConfigError(key, f"{bin_width:g}s", f"warmup + duration = {window:g} s would need "
                          f"{window / bin_width:.3g} time-series bins of it, more than {MAX_BINS:,}: "
                          "use a wider bin or a shorter window")


def too_many_bins(bin_width: float, now: float) -> ConfigError:
    """The error for a batch run whose time series passed `MAX_BINS` bins."""
    return ConfigError("experiment.bin", f"{bin_width:g}s", f"the batch run passed t = {now:g} s, more than "
                       f"{MAX_BINS:,} time-series bins of it: use a wider bin")


class Pace:
    """Judges the run's events per simulated second, each time it is called (every `PACE_EVERY`
    operation starts and retries), over the events since the last judgement once there are at
    least `PACE_EVENTS` of them: long enough that a burst (a breaker closing, a thundering herd)
    does not count as a storm, short enough that a storm is stopped within seconds of wall time."""

    __slots__ = ("events", "limit", "since", "count", "kind")

    def __init__(self, limit: float, count: Callable[[], int], kind: str) -> None:
        self.limit, self.count, self.kind = limit, count, kind
        self.events, self.since = 0, 0.0

    def __call__(self, now: float) -> None:
        events = self.count()
        if events - self.events < PACE_EVENTS:
            return
        if (events - self.events) > self.limit * (now - self.since):
            raise too_fast((events - self.events) / (now - self.since) if now > self.since else math.inf,
                           self.limit, self.since, now, self.kind)
        self.events, self.since = events, now


def too_fast(rate: float, limit: float, since: float, now: float, kind: str) -> ConfigError:
    """The error for a run whose events per simulated second passed `experiment.max_event_rate`."""
    load = "workload.rate (arrivals/s)" if kind == "open" else "workload.clients"
    return ConfigError("experiment.max_event_rate", f"{limit:g}",
                       f"the run scheduled {rate:.3g} events per simulated second between t = {since:g} s and "
                       f"{now:g} s, past this sanity limit (a simulated second there costs minutes of wall time, "
                       "and a retry storm only grows). Bound the retries (policy.max_attempts = 0 is unlimited; "
                       f"a zero or tiny delay retries at once), lower {load}, or raise experiment.max_event_rate "
                       "if this load is meant")


def estimate_bytes(scenario: "Scenario") -> int:
    """Memory one run of `scenario` needs, roughly: clients and keys dominate."""
    return BYTES_BASE + BYTES_PER_CLIENT * scenario.workload.clients + BYTES_PER_KEY * scenario.workload.keys.count


def available_bytes() -> int:
    """Memory the machine can give now (MemAvailable on Linux, else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(scenarios: list[Any], parallel: int = 1, available: int | None = None) -> None:
    """Refuse before running when `parallel` runs of the largest scenario would not fit in memory."""
    if not scenarios:
        return
    biggest = max(scenarios, key=estimate_bytes)
    need, have = estimate_bytes(biggest) * max(parallel, 1), available_bytes() if available is None else available
    if need > have:
        w = biggest.workload
        key = "scenario.workload.clients" if BYTES_PER_CLIENT * w.clients >= BYTES_PER_KEY * w.keys.count \
            else "scenario.workload.keys.count"
        value = w.clients if key.endswith("clients") else w.keys.count
        raise ConfigError(key, value, f"{parallel} run(s) at once would need about {need / 2**30:.1f} GiB "
                                      f"(~{BYTES_PER_CLIENT / 1000:.1f} KB per client, {BYTES_PER_KEY} B per key) "
                                      f"but the machine has {have / 2**30:.1f} GiB available; make it smaller "
                                      "or use fewer --workers")
