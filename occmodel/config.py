"""The `[scenario]` table as typed models.

Every key of a scenario is a field here (with its type, default and limits), so these models are
the single source of the reference in docs/configuration.md and of `occmodel schema`. Checking is
pydantic's; what the user reads when a check fails is `occmodel.errors`' (`ConfigError` is
re-exported here for callers that import it from its old home).
"""
from __future__ import annotations

import math
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .distributions import ZERO, Distribution
from .errors import ConfigError, validate  # noqa: F401  (ConfigError: its old home, still importable)
from .policies import PolicyTable, build_policy
from .units import Capacity, Duration


class StrictModel(BaseModel):
    """A config table: unknown keys are errors (a typo must not silently mean the default)."""

    # strict: `clients = true`, `count = 2.0` and `pipelining = "yes"` are mistakes, not values to coerce
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)


class KeyChoice(StrictModel):
    """Which keys (streams, rows) an operation touches: how many there are and how popular each is."""

    count: int = Field(default=1, ge=1, description="number of keys operations choose from", json_schema_extra={"unit": "keys"})
    choice: Literal["uniform", "zipf", "hotspot"] = Field(
        "uniform", description="popularity: uniform (all alike); zipf (key i drawn ∝ 1/i^s); hotspot "
        "(hot_fraction of draws on the first hot_keys keys, the rest uniform over the others)")
    s: float = Field(default=1.1, gt=0, description="zipf: the exponent (larger = more skewed)")
    hot_keys: int = Field(default=1, ge=1, description="hotspot: how many keys are hot (capped at count)",
                          json_schema_extra={"unit": "keys"})
    hot_fraction: float = Field(default=0.9, ge=0, le=1, description="hotspot: share of key draws that go to a hot key",
                                json_schema_extra={"unit": "fraction"})
    affinity: float = Field(default=0.0, ge=0, le=1, json_schema_extra={"unit": "fraction"},
                            description="share of a client's operations on keys it owns (key ≡ client id mod clients): "
                            "sticky sessions, single writers; closed and batch workloads")


# A sanity limit on open arrivals (events per simulated second): past it a run's event count, not
# the model, decides how long it takes (`rate = 1e30` would never finish).
MAX_RATE = 1e6


class RateStep(StrictModel):
    """One step of an open workload's arrival-rate schedule."""

    until: Duration | None = Field(None, description="end of the step, from t = 0 (warm-up included); "
                                   "only the last step may omit it (it lasts to the end)")
    rate: float = Field(ge=0, le=MAX_RATE, description="Poisson arrival rate during the step",
                        json_schema_extra={"unit": "arrivals/s"})
    ramp: bool = Field(False, description="move the rate linearly from the previous step's rate to this one's "
                       "over the step (needs a previous step and an until)")


class Workload(StrictModel):
    """Who issues operations and when."""

    kind: Literal["closed", "open", "batch"] = Field(
        "closed", description="closed: clients loop (operation, think, operation ...); open: Poisson arrivals "
        "at rate or schedule; batch: every client runs ops_per_client operations from t = 0, run until all are done")
    clients: int = Field(default=1, ge=1, description="client processes (open: arrivals are shared among them at random)")
    think: Distribution = Field(ZERO, description="closed: pause between a client's operations")
    rate: float | None = Field(default=None, gt=0, le=MAX_RATE, json_schema_extra={"unit": "arrivals/s"},
                               description="open: Poisson arrival rate (give this or schedule)")
    schedule: list[RateStep] | None = Field(None, description="open: arrival rate in steps (give this or rate)")
    ops_per_client: int = Field(default=1, ge=1, description="batch: operations each client runs, one after another")
    keys: KeyChoice = Field(KeyChoice(), description="the keys operations touch")

    @model_validator(mode="after")
    def _rates(self) -> "Workload":
        if self.kind == "open" and (self.rate is None) == (self.schedule is None):
            raise ValueError("an open workload needs exactly one of rate (arrivals/s) or schedule")
        if self.schedule:
            untils = [s.until for s in self.schedule]
            if any(u is None for u in untils[:-1]) or untils != sorted(untils, key=lambda u: math.inf if u is None else u):
                raise ValueError("schedule steps need increasing 'until' times; only the last may omit it")
            if self.schedule[0].ramp or self.schedule[-1].ramp and self.schedule[-1].until is None:
                raise ValueError("ramp = true needs a previous step to ramp from and an 'until' to ramp to")
        return self


class Network(StrictModel):
    """Messages between a client and the store: each hop a one-way delay."""

    one_way: Distribution = Field(ZERO, description="one-way delay of each message, drawn per hop")
    pipelining: bool = Field(True, description="true: an attempt's reads go out together in one message "
                             "(one round trip); false: each read is awaited before the next is sent")
    coalesce: Duration = Field(0.0, description="requests a client sends within this window share one message; 0 = off")
    loss: float = Field(default=0.0, ge=0, lt=1, json_schema_extra={"unit": "probability"},
                        description="probability a message is lost (found only by operation.timeout, which must be > 0)")


class Server(StrictModel):
    """A store server (reads or commits): a queue in front of `capacity` parallel slots."""

    capacity: Capacity = Field(math.inf, description="requests served at once; the rest queue (FIFO)",
                               json_schema_extra={"unit": "requests"})
    service: Distribution = Field(ZERO, description="service time of one request (or of one commit batch)")
    per_inflight: Duration = Field(0.0, description="added to a request's service time per request already in service "
                                   "(a store that slows under load)")
    batch_interval: Duration = Field(0.0, description="commit only: collect commits for this long, serve them as one "
                                     "job, resolve in arrival order; 0 = no batching")


class History(StrictModel):
    """The cost of reading a key's whole history (policy `reload`, operation `reload`)."""

    initial_events: int = Field(default=0, ge=0, description="events every key holds at t = 0 (each commit adds one)",
                                json_schema_extra={"unit": "events"})
    per_event: Duration = Field(0.0, description="read time per event when a history is replayed")


class _Window(StrictModel):
    start: Duration | None = Field(None, description="when the fault begins (from t = 0); omitted: from the start")
    end: Duration | None = Field(None, description="when it ends; omitted: to the end of the run")
    target: Literal["all", "read", "commit"] = Field("all", description="which requests it hits")

    @model_validator(mode="after")
    def _ordered(self) -> "_Window":
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}s) must be after start ({self.start}s)")
        return self


class DownFault(_Window):
    """The store is down in the window."""

    kind: Literal["down"] = Field(description="requests fail (mode says how)")
    mode: Literal["fail_fast", "hang"] = Field("fail_fast", description="fail_fast: an error at once; hang: no answer "
                                               "(found only by operation.timeout, which must be > 0)")


class SlowFault(_Window):
    """The store is slow in the window."""

    kind: Literal["slow"] = Field(description="service times are multiplied by factor")
    factor: float = Field(gt=0, description="multiplier of service times", json_schema_extra={"unit": "×"})


class ErrorFault(_Window):
    """Calls fail at random in the window."""

    kind: Literal["error"] = Field(description="each request fails independently with probability")
    probability: float = Field(ge=0, le=1, description="chance a request fails", json_schema_extra={"unit": "probability"})


Fault = typing.Annotated[DownFault | SlowFault | ErrorFault, Field(discriminator="kind")]


class Store(StrictModel):
    """The store: conflict rule, read and commit servers, history cost, faults."""

    conflict: Literal["expected_version", "read_set"] = Field(
        "expected_version", description="expected_version: a commit fails if a written key moved since it was "
        "read (event-store append); read_set: if any key read moved (FoundationDB), or the transaction is "
        "older than mvcc_window (too_old)")
    mvcc_window: Duration = Field(5.0, description="read_set: transactions older than this fail as too_old")
    read: Server = Field(Server(), description="the server that answers reads")
    commit: Server = Field(Server(), description="the server that checks and applies commits")
    history: History = Field(History(), description="cost of replaying a key's history")
    faults: list[Fault] = Field([], description="faults, each a table with kind = down | slow | error")

    @model_validator(mode="after")
    def _no_read_batching(self) -> "Store":
        if self.read.batch_interval:
            raise ValueError("batch_interval applies to commits only (store.commit.batch_interval)")
        return self


class Operation(StrictModel):
    """What a client does per logical request (one operation = one or more attempts)."""

    kind: Literal["append", "reload", "value_check", "transaction", "call"] = Field(
        "append", description="append: read the latest version, commit +1; reload: read the whole history first; "
        "value_check: the first attempt trusts the client's cached version (no read); transaction: read "
        "`reads` keys, commit `writes`; call: one unconditional store call (no conflicts)")
    reads: int = Field(default=1, ge=0, description="keys read per attempt", json_schema_extra={"unit": "keys"})
    writes: int = Field(default=1, ge=0, description="keys written per commit", json_schema_extra={"unit": "keys"})
    compute: Distribution = Field(ZERO, description="client work between the reads and the commit")
    timeout: Duration = Field(0.0, description="per-request timeout; 0 = none (the store still does a timed-out request's work)")
    # only an operation's first attempt trusts the cache (a retry has read fresh versions), so at
    # most one failed value check can earn a free retry: 0 or 1, anything else is rejected
    value_check_retries: int = Field(default=1, ge=0, le=1, description="value_check: a failed check earns this many "
                                     "immediate read-then-commit retries the policy does not count (0 or 1)")


class Scenario(StrictModel):
    """The model of one sweep point; `policy` stays a table, built per run by `policies.build`."""

    workload: Workload = Field(Workload(), description="who issues operations and when")
    network: Network = Field(Network(), description="messages between clients and the store")
    store: Store = Field(Store(), description="the store")
    operation: Operation = Field(Operation(), description="what one operation does")
    policy: PolicyTable = Field({"kind": "none"}, description="the retry policy: a table with kind (see Policies)")

    @model_validator(mode="after")
    def _consistent(self) -> "Scenario":
        op, keys = self.operation, self.workload.keys.count
        if max(op.reads, op.writes) > keys:   # the key sampler draws distinct keys: it would never finish
            raise ValueError(f"an attempt touches max(reads, writes) = {max(op.reads, op.writes)} distinct keys "
                             f"but workload.keys.count is {keys}")
        w = self.workload
        if w.keys.affinity and w.kind == "open":
            raise ValueError("workload.keys.affinity needs clients that own keys: a closed or batch workload")
        if w.keys.affinity == 1 and len(range(0, keys, w.clients)) < max(op.reads, op.writes, 1):
            raise ValueError(f"with workload.keys.affinity = 1 each client draws only from its own "
                             f"{keys // w.clients or 1} key(s), fewer than the {max(op.reads, op.writes)} "
                             "distinct keys an attempt needs")
        if op.kind in ("append", "reload") and op.writes > op.reads:
            raise ValueError(f"operation.kind = {op.kind!r} writes keys it read: writes ({op.writes}) must be <= reads ({op.reads})")
        delays = [self.workload.think, self.network.one_way, self.store.read.service, self.store.commit.service,
                  op.compute]
        if self.workload.kind == "closed" and all(d.dist == "constant" and d.value == 0 for d in delays):
            raise ValueError("a closed workload in which every delay is zero never advances simulated time: "
                             "give think, network.one_way, a service time or operation.compute a positive value")
        hangs = self.network.loss > 0 or any(f.kind == "down" and f.mode == "hang" for f in self.store.faults)
        if hangs and op.timeout == 0:
            raise ValueError("lost messages and hanging faults are only found by a request timeout: set operation.timeout > 0")
        return self


def validate_scenario(data: Any, prefix: str = "scenario", base: Any = None) -> Scenario:
    """A `Scenario` from a `[scenario]`-shaped mapping, or one clear `ConfigError`; relative file
    paths in it (empirical `csv`) are resolved against the folder `base` (the config's)."""
    if isinstance(data, Scenario):
        return data
    if not isinstance(data, dict):
        raise ConfigError(prefix, data, "expected a table")
    scenario = validate(Scenario, data, prefix, {"base": base})
    build_policy(scenario.policy, f"{prefix}.policy")
    return scenario
