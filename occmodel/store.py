"""The optimistic-concurrency store: keys with versions, servers, conflict rules, faults.

Reads and commits queue at a lean FIFO server (`Server`): a free slot is taken with no event at
all, a busy server queues the request on one plain event that the release hands the slot to
(simpy.Resource costs a Request and a Release event per request, 2 of an uncontended attempt's
10 events; `capacity = "inf"` needs no queue at all). Service time = (draw + history replay) × slow-fault factor +
`per_inflight` × requests already in service, so an overloaded store slows for everyone.
A commit is checked when its service *ends*, against the state at that moment:
- `expected_version`: each written key's attempted version (read version + 1) must exceed the
  current one, else a conflict reporting the key and both versions (the version gap);
- `read_set`: no key read may have been written after the attempt's read version, and the
  read version may not be older than `mvcc_window` (else too old); a conflict names the key and
  the commit sequence number (the store's version clock) at which it was written.
The store never learns that a client gave up waiting: abandoned requests are served in full.
"""
from __future__ import annotations

import itertools
import math
from collections import deque
from typing import Generator

import simpy

from .config import Server as ServerConfig
from .config import Store as StoreConfig
from .distributions import Sampler
from .outcomes import CONFLICT, ERROR, OK, TOO_OLD


# A commit request is a plain tuple (built per attempt, so it must be cheap), a snapshot taken when
# it is sent, so that an abandoned request still commits what it said:
#   (keys, seen, reads, writes, read_seq, read_time)
# keys[:writes] are written with versions seen[i] + 1 (expected_version), keys[:reads] were read
# with versions seen[:reads] at commit sequence number read_seq and time read_time (read_set).
# `call` operations send BLIND (None): no conflict check.
CommitRequest = tuple
BLIND = None
# A commit result is a plain tuple too: (outcome, current, attempted, seq, key). Successes report
# the store's commit sequence number after this commit; conflicts report the conflicting key, its
# current version, the version the commit tried to write and, in `seq`, the commit sequence number
# at which the key was last written (for `read_set`: the write after the read version that caused
# the conflict); the fields that do not apply are -1.
CommitResult = tuple

_DONE: CommitResult = (OK, -1, -1, -1, -1)
_FAILED: CommitResult = (ERROR, -1, -1, -1, -1)
_TOO_OLD: CommitResult = (TOO_OLD, -1, -1, -1, -1)
_NO_SERVICE = itertools.repeat(0.0).__next__


class Server:
    """A pool of `capacity` identical servers with load-dependent service time, FIFO queue.

    `acquire` / `begin` / `release` are the steps of `serve`, for a caller that inlines them
    (the client's lean path): acquire a slot (or an event to wait for), draw the service time,
    wait it out, release."""

    def __init__(self, env: simpy.Environment, cfg: ServerConfig, service: Sampler | None, t0: float,
                 t1: float) -> None:
        self.env, self.t0, self.t1 = env, t0, t1     # the measurement window
        self.service = service or _NO_SERVICE
        self.capacity = cfg.capacity
        self.limited = not math.isinf(cfg.capacity)
        self.free = int(cfg.capacity) if self.limited else 0    # slots not in use
        self.waiting: deque[simpy.Event] = deque()              # requests queued for a slot
        self.per_inflight = cfg.per_inflight
        # no service time and none added by load: a request without extra work takes no time, and
        # `begin` need not be asked (nothing to draw, no busy time)
        self.instant = service is None and not cfg.per_inflight
        self.in_service = 0
        self.busy = 0.0
        self.reach = 0.0     # Σ over requests in service of where their busy credit ends (≤ t1)
        self.slow: list[tuple[float, float, float]] = []   # (start, end, factor)

    def acquire(self) -> simpy.Event | None:
        """Take a free slot (None), or queue: the event succeeds when a release hands one over."""
        if self.free:
            self.free -= 1
            return None
        slot = self.env.event()
        self.waiting.append(slot)
        return slot

    def release(self) -> None:
        """Hand the slot to the first request queued, or free it."""
        if self.waiting:
            self.waiting.popleft().succeed()
        else:
            self.free += 1

    def begin(self, extra: float = 0.0) -> tuple[float, float]:
        """A service starting now: (its duration, where its busy credit ends). Its busy time inside
        the window is counted; a service that takes time is counted in service until the caller,
        once it has waited `duration`, takes it out (`in_service -= 1`, `reach -= ` the second)."""
        duration = self.service() + extra
        if self.slow or self.per_inflight:
            duration = self.loaded(duration)
        now, t0, t1 = self.env.now, self.t0, self.t1     # only busy time inside the window counts
        end = now + duration
        if now >= t0:
            if end <= t1:
                self.busy += duration
            elif now < t1:
                self.busy += t1 - now
        elif end > t0:
            self.busy += (end if end < t1 else t1) - t0
        reach = end if end < t1 else t1
        if duration:
            self.in_service += 1
            self.reach += reach
        return duration, reach

    def serve(self, extra: float = 0.0) -> Generator:
        limited = self.limited
        if limited:
            slot = self.acquire()
            if slot is not None:
                yield slot
        duration, reach = self.begin(extra)
        if duration:
            yield self.env.timeout(duration)
            self.in_service -= 1
            self.reach -= reach
        if limited:
            self.release()

    def loaded(self, duration: float) -> float:
        """Service time under slow faults (multiplied) and load (`per_inflight` per request in service)."""
        now = self.env.now
        for start, end, factor in self.slow:
            if start <= now < end:
                duration *= factor
        return duration + self.per_inflight * self.in_service

    def utilization(self, span: float, now: float) -> float:
        """Busy fraction of the pool over the window (`span` long, ended at `now`), ≤ 1; NaN for
        `inf` capacity (nothing to use up). A run that ends before t1 (a batch run, whose t1 is
        inf) takes back the credit of requests still in service past `now`: abandoned work."""
        if math.isinf(self.capacity):
            return math.nan
        busy = self.busy
        if now < self.t1 and self.in_service:
            busy -= max(0.0, self.reach - max(now, self.t0) * self.in_service)
        return busy / span / self.capacity


class Store:
    def __init__(self, env: simpy.Environment, cfg: StoreConfig, read: Server, commit: Server,
                 keys: int, uniform: Sampler) -> None:
        self.env = env
        self.read_server, self.commit_server = read, commit
        self.read_set = cfg.conflict == "read_set"
        self.mvcc_window = cfg.mvcc_window
        self.per_event = cfg.history.per_event
        self.version = [0] * keys
        self.history = [cfg.history.initial_events] * keys
        self.last_write = [0] * keys
        self.seq = 0
        self.batch_interval = cfg.commit.batch_interval
        self._batch: list[tuple[CommitRequest, list]] | None = None
        self._batch_done: simpy.Event | None = None
        self.uniform = uniform
        self.down: list[tuple[float, float, str, str]] = []      # (start, end, target, mode)
        self.errors: list[tuple[float, float, str, float]] = []  # (start, end, target, probability)
        for f in cfg.faults:
            start, end = f.start or 0.0, math.inf if f.end is None else f.end
            if f.kind == "slow":
                for name, server in (("read", read), ("commit", commit)):
                    if f.target in ("all", name):
                        server.slow.append((start, end, f.factor))
            elif f.kind == "down":
                self.down.append((start, end, f.target, f.mode))
            else:
                self.errors.append((start, end, f.target, f.probability))
        self.faulty = bool(self.down or self.errors)

    def fault(self, target: str) -> int | None:
        """None if the request proceeds; ERROR to fail it fast; -1 to swallow it (hang)."""
        now = self.env.now
        for start, end, where, mode in self.down:
            if start <= now < end and where in ("all", target):
                return ERROR if mode == "fail_fast" else -1
        for start, end, where, probability in self.errors:
            if start <= now < end and where in ("all", target) and self.uniform() < probability:
                return ERROR
        return None

    def read(self, key: int, history: bool) -> Generator:
        """Serve a read; returns (outcome, version, commit sequence number, events replayed)."""
        if self.faulty:
            failed = self.fault("read")
            if failed is not None:
                if failed < 0:
                    yield self.env.event()   # swallowed: never answered
                return failed, -1, -1, 0
        events = self.history[key] if history else 0
        yield from self.read_server.serve(self.per_event * events)
        return OK, self.version[key], self.seq, events

    def commit(self, request: CommitRequest | None) -> Generator:
        """Serve a commit; returns a `CommitResult` decided when service ends."""
        if self.faulty:
            failed = self.fault("commit")
            if failed is not None:
                if failed < 0:
                    yield self.env.event()
                return _FAILED
        if not self.batch_interval:
            yield from self.commit_server.serve()
            return self.resolve(request)
        if self._batch is None:
            self._batch, self._batch_done = [], self.env.event()
            self.env.process(self._run_batch(self._batch, self._batch_done))
        slot: list = []
        self._batch.append((request, slot))
        yield self._batch_done
        return slot[0]

    def _run_batch(self, batch: list, done: simpy.Event) -> Generator:
        """Collect commits for `batch_interval`, serve them as one job, resolve in arrival order."""
        yield self.env.timeout(self.batch_interval)
        self._batch = None
        yield from self.commit_server.serve()
        for request, slot in batch:
            slot.append(self.resolve(request))
        done.succeed()

    def resolve(self, request: CommitRequest | None) -> CommitResult:
        if request is None:
            return _DONE
        keys, seen, reads, writes, read_seq, read_time = request
        version, last_write, history = self.version, self.last_write, self.history
        if self.read_set:
            if self.env.now - read_time > self.mvcc_window:
                return _TOO_OLD
            for i in range(reads):
                key = keys[i]
                if last_write[key] > read_seq:
                    return CONFLICT, version[key], seen[i] + 1, last_write[key], key
            self.seq = seq = self.seq + 1
            for key in keys[:writes]:
                version[key] += 1
                last_write[key] = seq
                history[key] += 1
            return OK, -1, -1, seq, -1
        for i in range(writes):
            key = keys[i]
            if seen[i] < version[key]:           # attempted (seen + 1) <= current
                return CONFLICT, version[key], seen[i] + 1, last_write[key], key
        self.seq = seq = self.seq + 1
        for i in range(writes):
            key = keys[i]
            version[key] = seen[i] + 1
            last_write[key] = seq
            history[key] += 1
        return OK, -1, -1, seq, -1
