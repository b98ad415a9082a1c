"""Real stores: an experiment's sweep run by real clients against Redis or PostgreSQL.

`occmodel run CONFIG --store URL` (DESIGN 6.5) measures what the model predicts: the same grid,
the same policies deciding the same delays from the same random streams, the same measurement,
written to the same files (`backend` in manifest.json says which). `plan` does every check first
— the URL (loopback only), every sweep point's scenario against what the store can honour, and a
first connection — so that a bad URL, an unreachable store or an unrunnable config is one clear
message (CLI exit 2) before anything is written. Modules:

- `url`: store URLs; `base`: the backend contract and `StoreError`;
- `redis_store`: WATCH / MGET / MULTI / INCR / EXEC; `postgres_store`: appends to an events table
  with a unique (stream, version);
- `real`: the client processes, the retry loop over real connections, the merged measurement;
- `calibrate`: low-load round trips as `empirical` CSVs and a scenario that uses them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .base import Backend, StoreError
from .real import DIAGNOSTICS, check_scenario, run_points, shared_by_all, bind_check
from .url import StoreURL, parse_url

if TYPE_CHECKING:
    from ..experiment import Experiment


def backend(url: StoreURL) -> Backend:
    """The backend for a parsed URL (its client library imported only now)."""
    if url.kind == "redis":
        from .redis_store import RedisBackend

        return RedisBackend(url)
    from .postgres_store import PostgresBackend

    return PostgresBackend(url)


@dataclass
class StorePlan:
    """A checked store for one experiment: where, what runs there and what reality replaces."""

    backend: Backend
    server: dict[str, Any]
    processes: int
    replaced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.backend.kind

    def manifest(self) -> dict[str, Any]:
        return {"url": self.backend.url.shown, **self.server, "client_processes": self.processes,
                "replaced_by_the_store": self.replaced, "notes": self.notes,
                "not_measured": ["store_utilization", "mean_version_gap", "events"]}


def plan(url_text: str, exp: "Experiment", processes: int | None = None) -> StorePlan:
    """Check the URL, every point's scenario and the store itself, in that order; `processes`
    client processes (default: one per core, at most one per client)."""
    store = backend(parse_url(url_text))
    replaced: list[str] = []
    global_state = False
    for p in exp.points:
        try:
            for key in check_scenario(p.scenario, store):
                if key not in replaced:
                    replaced.append(key)
        except ConfigError as exc:
            if not p.values:
                raise
            where = ", ".join(f"{k} = {v['label'] if k == 'policy' else v!r}" for k, v in p.values.items())
            raise ConfigError(exc.path, exc.value, f"{exc.allowed} (in the sweep point {where})") from None
        global_state = global_state or shared_by_all(bind_check(p.scenario))
    most = max(p.scenario.workload.clients for p in exp.points)
    count = processes or min(os.cpu_count() or 1, most)
    notes = []
    if replaced:
        notes.append(f"the store's own latency and capacity replace the scenario's {', '.join(replaced)}")
    if global_state and count > 1:
        count = 1
        notes.append('a policy with scope = "global" shares its state among all clients: they run in one process')
    server = store.check()
    return StorePlan(store, server, max(1, count), replaced, notes)


__all__ = ["DIAGNOSTICS", "Backend", "StorePlan", "StoreError", "StoreURL", "backend", "parse_url", "plan", "run_points"]
