"""A client and the operations it runs: attempts of read, compute and conditional commit.

`Client.operation` is the retry loop of one logical operation, written as a SimPy generator so
that a closed-loop client runs its operations inline (no process per operation). Each request
is a *round trip*: request hop (in a message, maybe shared), store service, reply hop. Round
trips run inline (`yield from`: no process, no extra event). When a request timeout or deadline
is set, a round trip runs as its own process raced against a timer;
the store still finishes abandoned work, and its late answer is ignored (`op.tries` guard).
Tracing appends `Span`s only when `op.trace` is a list; otherwise it costs one test per request.
This is the hot path (a few thousand bytecodes per attempt all told): hooks that are unused
(tracing, policies' `admit`/`record` left as the base no-ops) are skipped by a flag test, and the
commit request and result are plain tuples. Where none of timeouts, hedging, loss, faults,
coalescing, commit batching, pipelined reads or tracing is in play, `Client.lean_operation`
replaces `operation` on the instance: the same loop with its round trips inlined, waiting once
per point where the shared state or the clock matters instead of once per hop.
"""
from __future__ import annotations

import itertools
from heapq import heappush
from typing import TYPE_CHECKING, Generator

from simpy.events import NORMAL

from . import hedging
from .guards import SPIN_LIMIT, retry_stalled
from .network import Connection
from .outcomes import CONFLICT, NAMES, OK, REJECTED, TIMEOUT, TOO_OLD
from .policies import Policy
from .store import BLIND, CommitRequest
from .trace import Span

if TYPE_CHECKING:
    from .model import Simulation

_NO_DELAY = itertools.repeat(0.0).__next__


def block_size(clients: int) -> int:
    """Draws per block of a client's own streams: small with many clients, so memory stays bounded
    (real clients, occmodel.backends, draw in the same blocks)."""
    return 256 if clients <= 64 else 32


def free_retry(op: "Op", outcome: int, free_retries: int) -> bool:
    """Whether a failed attempt earns an uncounted retry: a failed value check (the attempt trusted
    a cached version) earns `free_retries` (0 or 1) pessimistic retries that the policy does not
    see. The one rule for the model's general and lean loops and for real clients."""
    if op.optimistic and (outcome == CONFLICT or outcome == TOO_OLD) and op.free < free_retries:
        op.free += 1
        op.attempts -= 1
        return True
    return False


class Op:
    """One logical operation's state across its attempts (policies keep theirs here too)."""

    __slots__ = ("keys", "start", "attempts", "tries", "retries", "prev_delay", "reload", "versions",
                 "read_seq", "read_time", "optimistic", "current", "attempted", "commit_seq", "conflict_key",
                 "free", "trace", "breaker", "probe", "cost", "client", "began", "hold")

    def __init__(self, keys: tuple[int, ...], start: float, client: "Client") -> None:
        self.keys, self.start, self.client = keys, start, client
        self.attempts = self.tries = self.retries = self.free = 0   # attempts counts against the policy
        self.prev_delay = 0.0
        self.reload = self.optimistic = self.probe = False
        self.versions = [0] * len(keys)
        self.read_seq, self.read_time = -1, 0.0
        self.current = self.attempted = self.commit_seq = self.conflict_key = -1
        self.trace: list[Span] | None = None
        self.breaker = None
        self.cost = 0.0
        self.began = 0.0        # library policies: when the current attempt was admitted
        self.hold = False       # library policies: a retry of this operation is scheduled (in backoff)


class Client:
    def __init__(self, sim: "Simulation", cid: int) -> None:
        # what every client of the run shares is worked out once per run (`settings`), then copied
        # in: per client there are only its id, its streams and its cache
        common = sim.client_settings
        if common is None:
            common = sim.client_settings = self.settings(sim)
        self.__dict__.update(common)
        self.id = cid
        # every random draw that belongs to this client has its own stream, keyed by the client's id
        # (never by the sweep point): independent clients, common random numbers across points
        net, op, size = sim.scenario.network, sim.scenario.operation, self.block
        self.conn = Connection(sim.sampler(net.one_way, "network", cid, size=size) or _NO_DELAY)
        self.hop = self.conn.hop
        self.lost = sim.uniform("loss", cid, size=size) if self.lossy else _NO_DELAY
        self.cache: dict[int, tuple[int, int, float]] = {}      # value checks: key -> (version, seq, time)
        self.compute = sim.sampler(op.compute, "compute", cid, size=size)
        if self.lean:
            self.operation = self.lean_operation  # type: ignore[method-assign]

    @staticmethod
    def settings(sim: "Simulation") -> dict[str, object]:
        """The attributes every client of `sim`'s run has alike."""
        net, op, policy, store = sim.scenario.network, sim.scenario.operation, sim.policy, sim.store
        blind = op.kind == "call"
        nreads = 0 if blind else op.reads
        pipelined = net.pipelining and nreads > 1
        timed = op.timeout > 0 or policy.deadline > 0
        hedge = policy.hedging()          # the `hedge` policy, if any: round trips run hedged
        # a policy that keeps the base class's no-op `admit` / `record` costs nothing per attempt
        kind = type(policy)
        admits, records = kind.admit is not Policy.admit, kind.record is not Policy.record
        # the lean path where nothing needs a round trip as a generator of its own: no trace, no
        # request timeout or deadline (no race), no hedging, loss, faults, coalescing, commit
        # batching, and at most one read in flight
        lean = (sim.lean and sim.trace_op is None and not timed and not hedge and not net.loss > 0
                and not store.faulty and not store.batch_interval and not net.coalesce and not pipelined)
        # one operation at a time (closed, batch): its draws from the client's streams come in the
        # same order whenever they are made, so a reply's hop and the next request's can be drawn
        # together; open arrivals share a client between operations in flight, which draw in turn
        solo = sim.scenario.workload.kind != "open"
        # a failed attempt's retry decided when the commit is checked, not when its reply arrives:
        # exact where nothing but the operation itself looks at that moment (a policy of per-operation
        # state, nothing admitted or recorded) and where no run ends with a reply in flight (a batch
        # runs until every operation is done)
        early = solo and sim.scenario.workload.kind == "batch" and policy.TIMELESS and not admits and not records
        return {"sim": sim, "env": sim.env, "store": store, "net": sim.network, "policy": policy,
                "metrics": sim.metrics, "block": block_size(sim.scenario.workload.clients), "loss": net.loss,
                "lossy": net.loss > 0, "kind": op.kind, "blind": blind, "nreads": nreads, "nwrites": op.writes,
                "pipelined": pipelined, "history_reads": op.kind == "reload", "value_check": op.kind == "value_check",
                "free_retries": op.value_check_retries, "timed": timed, "timeout": op.timeout, "hedge": hedge,
                "admits": admits, "records": records, "lean": lean, "solo": solo, "early": early}

    def jitter(self) -> float:
        """A uniform draw from this client's stream of policy draws (backoff jitter, throttling).
        The stream is made on the first draw (most policies never draw: with 10,000 clients that
        saves 10,000 generators) and then replaces this method on the instance, so later draws cost
        one C call."""
        self.jitter = draw = self.sim.uniform("jitter", self.id, size=self.block)  # type: ignore[method-assign]
        return draw()

    # --- the retry loop ------------------------------------------------------------------
    def operation(self, keys: tuple[int, ...]) -> Generator:
        env, policy, metrics, sim = self.env, self.policy, self.metrics, self.sim
        op = Op(keys, env.now, self)
        if sim.trace_op is not None:
            sim.on_start(op)
        metrics.start(op.start)
        while True:
            if self.admits and not policy.admit(op):
                outcome = REJECTED
                if op.trace is not None:
                    op.trace.append(Span(op.tries + 1, "rejected", env.now, env.now, None, None, "rejected",
                                         breaker=policy.state(op)))
                break
            outcome = yield from self.attempt(op)
            if outcome == OK:
                metrics.attempt(op.start, env.now, OK, 0, op.optimistic, keys)
                if self.records:
                    policy.record(op, OK)
                break
            metrics.attempt(op.start, env.now, outcome, op.current - op.attempted + 1 if outcome == CONFLICT else 0,
                            op.optimistic, keys, op.conflict_key)
            if self.records:
                policy.record(op, outcome)
            if op.optimistic and free_retry(op, outcome, self.free_retries):
                continue
            delay = policy.retry_delay(op, outcome)
            if delay is None:
                break
            if delay < 0:
                outcome = REJECTED
                break
            metrics.retry(env.now)
            if op.trace is not None:
                op.trace.append(Span(op.tries, "backoff", env.now, env.now + delay, None, None, "ok",
                                     breaker=policy.state(op)))
            if delay:
                yield env.timeout(delay)
            elif op.tries % SPIN_LIMIT == 0 and env.now == op.start:   # retrying forever at one instant
                raise retry_stalled(env.now)
        metrics.finish(op.start, env.now, outcome, keys)
        if op.trace is not None:
            sim.on_finish(op, outcome)
        return outcome

    def lean_operation(self, keys: tuple[int, ...]) -> Generator:
        """`operation` with its attempts inlined: one generator per operation, not seven per attempt,
        and one event per hop that the client waits for, not one per hop. The client keeps its own
        clock `at` (the time it has reached: a reply's arrival plus think, compute, backoff and the
        next request's hop) and waits only where what happens depends on the shared state or on
        the time: at the store (a read's version, a commit's check, a server slot), where the
        policy or the metrics look (a reply's outcome, an admission) unless `early`, and, when
        operations share the client (`solo` false), wherever it draws. Same draws from the same
        streams in the same order, same sums of delays (a wait is pushed at `at` itself): the
        results are those of the general path (tests/test_lean.py runs both)."""
        env, policy, metrics, store, hop = self.env, self.policy, self.metrics, self.store, self.hop
        reads, commits = store.read_server, store.commit_server
        queue, ids, waiter = env.queue, env.ids, env.waiter()    # waiting until `at`: see model.Environment
        solo, early, admits, records = self.solo, self.early, self.admits, self.records
        versions, history_of, blind, nreads, nwrites = store.version, store.history, self.blind, self.nreads, self.nwrites
        value_check, compute, cache = self.value_check, self.compute, self.cache
        read_instant, commit_instant = reads.instant, commits.instant
        read_limited, commit_limited, history_reads = reads.limited, commits.limited, self.history_reads
        op = Op(keys, env.now, self)
        at = op.start
        metrics.start(at)
        while True:
            if admits:
                if at > env.now:
                    waiter.callbacks = []
                    heappush(queue, (at, NORMAL, next(ids), waiter))
                    yield waiter
                if not policy.admit(op):
                    outcome = REJECTED
                    break
            op.attempts += 1
            op.tries = tries = op.tries + 1
            op.read_seq = -1
            op.optimistic = False
            if blind:
                request = BLIND
            else:
                if value_check and tries == 1:
                    op.optimistic = self.use_cache(op)
                if nreads and not op.optimistic:
                    history = history_reads or op.reload
                    op.reload = False
                    for i in range(nreads):
                        if not solo and at > env.now:
                            waiter.callbacks = []
                            heappush(queue, (at, NORMAL, next(ids), waiter))
                            yield waiter
                        at += hop()                      # the request's hop
                        if at > env.now:
                            waiter.callbacks = []
                            heappush(queue, (at, NORMAL, next(ids), waiter))
                            yield waiter
                        key = keys[i]
                        extra = store.per_event * history_of[key] if history else 0.0   # on arrival
                        if read_limited:
                            slot = reads.acquire()
                            if slot is not None:
                                yield slot
                        if extra or not read_instant:
                            pause, reach = reads.begin(extra)
                            if pause:
                                yield env.timeout(pause)
                                reads.in_service -= 1
                                reads.reach -= reach
                        if read_limited:
                            reads.release()
                        version, seq = versions[key], store.seq
                        served = at = env.now
                        op.versions[i] = version
                        if op.read_seq < 0:
                            op.read_seq, op.read_time = seq, served
                        if value_check:
                            cache[key] = (version, seq, served)
                        at += hop()                      # the reply's
                if compute is not None:
                    if not solo and at > env.now:
                        waiter.callbacks = []
                        heappush(queue, (at, NORMAL, next(ids), waiter))
                        yield waiter
                    at += compute()
                # the versions themselves, not a snapshot: nothing changes them before the commit is
                # checked (no abandoned request outlives its attempt here)
                request = (keys, op.versions, nreads, nwrites, op.read_seq, op.read_time)
            if not solo and at > env.now:
                waiter.callbacks = []
                heappush(queue, (at, NORMAL, next(ids), waiter))
                yield waiter
            at += hop()
            if at > env.now:
                waiter.callbacks = []
                heappush(queue, (at, NORMAL, next(ids), waiter))
                yield waiter
            if commit_limited:
                slot = commits.acquire()
                if slot is not None:
                    yield slot
            if not commit_instant:
                pause, reach = commits.begin()
                if pause:
                    yield env.timeout(pause)
                    commits.in_service -= 1
                    commits.reach -= reach
            if commit_limited:
                commits.release()
            outcome, op.current, op.attempted, op.commit_seq, op.conflict_key = store.resolve(request)
            at = env.now + hop()
            if outcome == OK:
                if at > env.now:
                    waiter.callbacks = []
                    heappush(queue, (at, NORMAL, next(ids), waiter))
                    yield waiter
                if value_check:
                    seen = request[1]
                    for i in range(nwrites):
                        cache[keys[i]] = (seen[i] + 1, op.commit_seq, at)
                metrics.attempt(op.start, at, OK, 0, op.optimistic, keys)
                if records:
                    policy.record(op, OK)
                break
            if not early and at > env.now:
                waiter.callbacks = []
                heappush(queue, (at, NORMAL, next(ids), waiter))
                yield waiter
            metrics.attempt(op.start, at, outcome, op.current - op.attempted + 1 if outcome == CONFLICT else 0,
                            op.optimistic, keys, op.conflict_key)
            if records:
                policy.record(op, outcome)
            if op.optimistic and free_retry(op, outcome, self.free_retries):
                continue
            delay = policy.retry_delay(op, outcome)
            if delay is None:
                break
            if delay < 0:
                outcome = REJECTED
                break
            metrics.retry(at)
            if delay:
                at += delay
            elif tries % SPIN_LIMIT == 0 and at == op.start:
                raise retry_stalled(at)
        if at > env.now:
            waiter.callbacks = []
            heappush(queue, (at, NORMAL, next(ids), waiter))
            yield waiter
        metrics.finish(op.start, at, outcome, keys)
        return outcome

    # --- one attempt -----------------------------------------------------------------------
    def attempt(self, op: Op) -> Generator:
        op.attempts += 1
        op.tries = tries = op.tries + 1
        op.read_seq = -1
        op.optimistic = False
        if self.blind:
            request = BLIND
        else:
            nreads = self.nreads
            if self.value_check and tries == 1:
                op.optimistic = self.use_cache(op)
            if nreads and not op.optimistic:
                history = self.history_reads or op.reload
                op.reload = False
                if self.pipelined:
                    trip = self.pipelined_reads(op, history, tries)
                    if self.hedge:
                        trip = self.hedged(op, trip, lambda: self.pipelined_reads(op, history, tries), slice(0, nreads))
                    outcome = yield from (self.raced(trip, op) if self.timed and not self.hedge else trip)
                else:
                    for i in range(nreads):
                        trip = self.read(op, i, history, tries)
                        if self.hedge:
                            trip = self.hedged(op, trip, lambda: self.read(op, i, history, tries), slice(i, i + 1))
                        outcome = yield from (self.raced(trip, op) if self.timed and not self.hedge else trip)
                        if outcome:
                            break
                if outcome:
                    return outcome
            if self.compute is not None:
                pause = self.compute()
                if op.trace is not None:
                    env = self.env
                    op.trace.append(Span(tries, "compute", env.now, env.now + pause, None, None, "ok"))
                if pause:
                    yield self.env.timeout(pause)
            request = (op.keys, tuple(op.versions), nreads, self.nwrites, op.read_seq, op.read_time)
        trip = self.commit(op, request, tries)
        if self.hedge:
            trip = self.hedged(op, trip, lambda: self.commit(op, request, tries), slice(0, 0))
        outcome = yield from (self.raced(trip, op) if self.timed and not self.hedge else trip)
        if outcome == OK and self.value_check:
            keys, seen, now = request[0], request[1], self.env.now
            for i in range(self.nwrites):
                self.cache[keys[i]] = (seen[i] + 1, op.commit_seq, now)
        return outcome

    def use_cache(self, op: Op) -> bool:
        """Take the cached versions of every key read, if all are cached (a value-check attempt)."""
        cached = [self.cache.get(k) for k in op.keys[:self.nreads]]
        if not cached or None in cached:
            return False
        op.versions[:self.nreads] = [c[0] for c in cached]
        op.read_seq = min(c[1] for c in cached)
        op.read_time = min(c[2] for c in cached)
        return True

    # --- round trips -----------------------------------------------------------------------
    def hedged(self, op: Op, trip: Generator, again, keep: slice) -> Generator:
        """`trip` and its copies under the `hedge` policy (hedging.py), bounded as `raced` bounds one."""
        limit = self.policy.request_timeout(op, self.timeout) if self.timed else None
        return hedging.run(self.env, self.hedge, op, trip, again, keep, limit)

    def raced(self, trip: Generator, op: Op) -> Generator:
        """Run a round trip raced against the request timeout, or what the deadline leaves."""
        env = self.env
        limit = self.policy.request_timeout(op, self.timeout)
        if limit <= 0:
            trip.close()
            return TIMEOUT
        started = env.now
        proc = env.process(trip)
        yield proc | env.timeout(limit)
        if proc.triggered:
            return proc.value
        if op.trace is not None:
            op.trace.append(Span(op.tries, "timeout", started, env.now, None, None, "timeout"))
        return TIMEOUT

    def pipelined_reads(self, op: Op, history: bool, tries: int) -> Generator:
        """All reads in one message (one request hop), served concurrently, replies as each ends."""
        env, net = self.env, self.net
        sent = env.now
        if self.lossy and self.lost() < self.loss:
            yield env.event()
        hop = net.send(self.conn, sent)
        message = self.conn.message      # before the hop: by its end the connection may hold a newer message
        if hop:
            yield env.timeout(hop)
        if net.tally is not None:
            net.count(message, op, self.nreads)
        reads = [env.process(self.read(op, i, history, tries, message, sent)) for i in range(self.nreads)]
        yield env.all_of(reads)
        for read in reads:
            if read.value:
                return read.value
        return OK

    def read(self, op: Op, i: int, history: bool, tries: int, message: int = 0, sent: float = 0.0) -> Generator:
        """Read `op.keys[i]`: request hop (unless it came in a shared `message`), service, reply hop."""
        env, net = self.env, self.net
        if not message:
            sent = env.now
            if self.lossy and self.lost() < self.loss:
                yield env.event()        # lost on the way: only the timeout will tell
            hop = net.send(self.conn, sent)
            message = self.conn.message
            if hop:
                yield env.timeout(hop)
            if net.tally is not None:
                net.count(message, op, 1)
        key = op.keys[i]
        outcome, version, seq, events = yield from self.store.read(key, history)
        served = env.now
        if self.lossy and self.lost() < self.loss:
            yield env.event()
        hop = self.hop()
        if hop:
            yield env.timeout(hop)
        if op.tries == tries:
            if outcome == OK:
                op.versions[i] = version
                if op.read_seq < 0:
                    op.read_seq, op.read_time = seq, served
                if self.value_check:
                    self.cache[key] = (version, seq, served)
            if op.trace is not None:
                op.trace.append(Span(tries, "history" if history else "read", sent, env.now, key, message,
                                     NAMES[outcome], current=version if outcome == OK else None,
                                     events=events if history else None))
        return outcome

    def commit(self, op: Op, request: CommitRequest | None, tries: int) -> Generator:
        env, net = self.env, self.net
        sent = env.now
        if self.lossy and self.lost() < self.loss:
            yield env.event()
        hop = net.send(self.conn, sent)
        message = self.conn.message      # before the hop: by its end the connection may hold a newer message
        if hop:
            yield env.timeout(hop)
        if net.tally is not None:
            net.count(message, op, 1)
        outcome, current, attempted, seq, key = yield from self.store.commit(request)
        if self.lossy and self.lost() < self.loss:
            yield env.event()
        hop = self.hop()
        if hop:
            yield env.timeout(hop)
        if op.tries == tries:
            op.current, op.attempted, op.commit_seq, op.conflict_key = current, attempted, seq, key
            if op.trace is not None:
                self.trace_commit(op, request, tries, sent, message, outcome)
        return outcome

    def trace_commit(self, op: Op, request: CommitRequest | None, tries: int, sent: float, message: int,
                     outcome: int) -> None:
        """The commit's span: the key written, or the key that conflicted (for `read_set`, with the
        commit sequence number it was written at and the attempt's read version)."""
        writes = request is not None and request[3] > 0
        conflict = outcome == CONFLICT
        read_set = conflict and self.store.read_set
        op.trace.append(Span(tries, "commit", sent, self.env.now,
                             op.conflict_key if conflict else request[0][0] if writes else None, message,
                             NAMES[outcome], current=op.current if op.current >= 0 else None,
                             attempted=(op.attempted if op.attempted >= 0 else
                                        request[1][0] + 1 if writes else None),
                             breaker=self.policy.state(op),
                             written_at=op.commit_seq if read_set else None,
                             read_version=op.read_seq if read_set else None,
                             cached=op.optimistic))
