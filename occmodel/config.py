"""The `[scenario]` table as typed models, and config errors people can act on.

Pydantic does the checking; this module decides what the user reads when a check fails: one
line naming the key path as it appears in the TOML, the offending value and what is allowed
(with a did-you-mean for misspelt keys). `ConfigError` is the single exception the CLI turns
into exit status 2.
"""
from __future__ import annotations

import difflib
import math
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .distributions import ZERO, Distribution
from .units import Capacity, Duration


class ConfigError(Exception):
    """Invalid input: `path` is the dotted key, `value` what was given, `allowed` what would do."""

    def __init__(self, path: str, value: Any, allowed: str):
        self.path, self.value, self.allowed = path, value, allowed
        where = path or "(top level)"
        if isinstance(value, dict):  # a rule about the whole table: the table is not worth printing
            super().__init__(f"{where}: {allowed}")
        else:
            super().__init__(f"{where}: got {'(missing)' if value is _MISSING else repr(value)}; {allowed}")


_MISSING = object()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class KeyChoice(_Model):
    count: int = Field(default=1, ge=1)
    choice: Literal["uniform", "zipf", "hotspot"] = "uniform"
    s: float = Field(default=1.1, gt=0)
    hot_keys: int = Field(default=1, ge=1)
    hot_fraction: float = Field(default=0.9, ge=0, le=1)
    affinity: float = Field(default=0.0, ge=0, le=1)   # share of a client's operations on its own keys


class RateStep(_Model):
    until: Duration | None = None
    rate: float = Field(ge=0)
    ramp: bool = False        # the rate moves linearly from the previous step's rate to this one's


class Workload(_Model):
    kind: Literal["closed", "open", "batch"] = "closed"
    clients: int = Field(default=1, ge=1)
    think: Distribution = ZERO
    rate: float | None = Field(default=None, gt=0)
    schedule: list[RateStep] | None = None
    ops_per_client: int = Field(default=1, ge=1)
    keys: KeyChoice = KeyChoice()

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


class Network(_Model):
    one_way: Distribution = ZERO
    pipelining: bool = True
    coalesce: Duration = 0.0
    loss: float = Field(default=0.0, ge=0, lt=1)


class Server(_Model):
    capacity: Capacity = math.inf
    service: Distribution = ZERO
    per_inflight: Duration = 0.0
    batch_interval: Duration = 0.0


class History(_Model):
    initial_events: int = Field(default=0, ge=0)
    per_event: Duration = 0.0


class _Window(_Model):
    start: Duration | None = None
    end: Duration | None = None
    target: Literal["all", "read", "commit"] = "all"

    @model_validator(mode="after")
    def _ordered(self) -> "_Window":
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}s) must be after start ({self.start}s)")
        return self


class DownFault(_Window):
    kind: Literal["down"]
    mode: Literal["fail_fast", "hang"] = "fail_fast"


class SlowFault(_Window):
    kind: Literal["slow"]
    factor: float = Field(gt=0)


class ErrorFault(_Window):
    kind: Literal["error"]
    probability: float = Field(ge=0, le=1)


Fault = typing.Annotated[DownFault | SlowFault | ErrorFault, Field(discriminator="kind")]


class Store(_Model):
    conflict: Literal["expected_version", "read_set"] = "expected_version"
    mvcc_window: Duration = 5.0
    read: Server = Server()
    commit: Server = Server()
    history: History = History()
    faults: list[Fault] = []

    @model_validator(mode="after")
    def _no_read_batching(self) -> "Store":
        if self.read.batch_interval:
            raise ValueError("batch_interval applies to commits only (store.commit.batch_interval)")
        return self


class Operation(_Model):
    kind: Literal["append", "reload", "value_check", "transaction", "call"] = "append"
    reads: int = Field(default=1, ge=0)
    writes: int = Field(default=1, ge=0)
    compute: Distribution = ZERO
    timeout: Duration = 0.0
    value_check_retries: int = Field(default=1, ge=0)


class Scenario(_Model):
    """The model of one sweep point; `policy` stays a table, built per run by `policies.build`."""

    workload: Workload = Workload()
    network: Network = Network()
    store: Store = Store()
    operation: Operation = Operation()
    policy: dict[str, Any] = {"kind": "none"}

    @model_validator(mode="after")
    def _consistent(self) -> "Scenario":
        op, keys = self.operation, self.workload.keys.count
        if op.kind != "call" and max(op.reads, op.writes) > keys:
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


def validate_scenario(data: Any, prefix: str = "scenario") -> Scenario:
    """A `Scenario` from a `[scenario]`-shaped mapping, or one clear `ConfigError`."""
    from .policies import build_policy  # policies import config types; avoid the cycle

    if isinstance(data, Scenario):
        return data
    scenario = validate(Scenario, data, prefix)
    build_policy(scenario.policy, f"{prefix}.policy")
    return scenario


def validate(model: type[BaseModel], data: Any, prefix: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_pydantic(exc, data, prefix, model) from None


def from_pydantic(exc: ValidationError, data: Any, prefix: str, model: Any = None) -> ConfigError:
    """Translate pydantic's first error into a `ConfigError` whose path is the user's key path."""
    # an unknown key explains the errors that follow from it, so it is reported first
    err = min(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    parts, value, node, cls = [], data, data, model
    for item in err["loc"]:
        if isinstance(node, dict) and item in node:
            parts.append(str(item))
            value = node = node[item]
            cls = _field_model(cls, str(item), node)
        elif isinstance(node, list) and isinstance(item, int) and item < len(node):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
            value = node = node[item]
            cls = _item_model(cls, node)
        # other loc items are pydantic's names for union members and validators: not user keys
    if err["type"] == "missing":
        parts.append(str(err["loc"][-1]))
        value = _MISSING
    path = ".".join(p for p in [prefix, *parts] if p)
    if err["type"] == "extra_forbidden":
        parent = _parent_model(model, data, err["loc"])
        allowed = sorted(f.alias or k for k, f in (getattr(parent, "model_fields", {}) or {}).items())
        hint = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
        msg = f"unknown key; allowed keys here: {', '.join(a for a in allowed)}"
        return ConfigError(path, value, msg + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    if err["type"] == "union_tag_invalid":
        msg = f"{err['ctx']['discriminator'].strip(chr(39))} must be one of {err['ctx']['expected_tags']}"
    elif err["type"] == "literal_error":
        msg = f"expected one of {err['ctx']['expected']}"
    elif err["type"] == "missing":
        msg = "this key is required here"
    return ConfigError(path, value, msg)


def _unwrap(annotation: Any, data: Any) -> Any:
    """The model class an annotation stands for, given the data (tags pick union members)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0], data)
    if origin in (list,):
        return _unwrap(typing.get_args(annotation)[0], data)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        members = [m for m in typing.get_args(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
        for m in members:
            tag = next((k for k in ("dist", "kind") if k in m.model_fields), None)
            if tag and isinstance(data, dict) and typing.get_args(m.model_fields[tag].annotation) == (data.get(tag),):
                return m
        return members[0] if len(members) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _field_model(cls: Any, key: str, data: Any) -> Any:
    fields = getattr(cls, "model_fields", None) or {}
    field = fields.get(key) or next((f for f in fields.values() if f.alias == key), None)
    return _unwrap(field.annotation, data) if field else None


def _item_model(cls: Any, data: Any) -> Any:
    return cls if cls is None else _unwrap(cls, data) if not isinstance(cls, type) else cls


def _parent_model(model: Any, data: Any, loc: tuple) -> Any:
    cls, node = model, data
    for item in loc[:-1]:
        if isinstance(node, dict) and item in node:
            node = node[item]
            cls = _field_model(cls, str(item), node)
        elif isinstance(node, list) and isinstance(item, int):
            node = node[item]
    if cls is not None and isinstance(node, dict):
        for tag in ("dist", "kind"):
            if tag in node and _unwrap(cls, node) is not None:
                return _unwrap(cls, node)
    return cls
