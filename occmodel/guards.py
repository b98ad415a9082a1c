"""Guards against runs that would never end or would not fit in memory.

A model can be valid and still be unrunnable: a closed client whose every operation is refused
at once by an open circuit breaker (think time 0) loops forever at one instant, because a
rejection costs no simulated time; a batch whose operations never succeed runs forever in
simulated time; a scenario with ten million clients needs more memory than the machine has.
These checks stop such runs with a `ConfigError` naming the key to change, instead of hanging or
being killed by the kernel. They cost nothing per event: the spin check runs once per finished
closed-loop operation (one comparison) and the others once per run.

Decision (documented in README, "Model notes"): a zero-time loop is detected and stopped, not
given an invented cost. A fast-fail that costs nothing is what the configured model says; any
cost chosen here would be a silent change of the model, whereas the message tells the user
which knob (`workload.think`, the breaker) makes the scenario meaningful.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Scenario

# operations one closed client may finish at one simulated instant before the run is declared stuck
SPIN_LIMIT = 100_000
# default simulated-time limit of a batch run (`experiment.max_time`), seconds
MAX_TIME = 3600.0
# memory estimate per simulated client and per key, bytes (see tests/test_guards.py, slow test)
BYTES_PER_CLIENT = 9_400
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
