"""A client and the operations it runs: attempts of read, compute and conditional commit.

`Client.operation` is the retry loop of one logical operation, written as a SimPy generator so
that a closed-loop client runs its operations inline (no process per operation). Each request
is a *round trip*: request hop (in a message, maybe shared), store service, reply hop. Round
trips run inline (`yield from`: no process, no extra event). When a request timeout or deadline
is set, a round trip runs as its own process raced against a timer;
the store still finishes abandoned work, and its late answer is ignored (`op.tries` guard).
Tracing appends `Span`s only when `op.trace` is a list; otherwise it costs one test per request.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Generator

from .network import Connection
from .outcomes import CONFLICT, NAMES, OK, REJECTED, TIMEOUT, TOO_OLD
from .store import CommitRequest
from .trace import Span

if TYPE_CHECKING:
    from .model import Simulation

_BLIND = CommitRequest((), (), (), (), 0, 0.0, True)


class Op:
    """One logical operation's state across its attempts (policies keep theirs here too)."""

    __slots__ = ("keys", "start", "attempts", "tries", "retries", "prev_delay", "reload", "versions",
                 "read_seq", "read_time", "optimistic", "current", "attempted", "commit_seq", "free",
                 "trace", "breaker", "probe", "cost", "client")

    def __init__(self, keys: tuple[int, ...], start: float, client: "Client") -> None:
        self.keys, self.start, self.client = keys, start, client
        self.attempts = self.tries = self.retries = self.free = 0   # attempts counts against the policy
        self.prev_delay = 0.0
        self.reload = self.optimistic = self.probe = False
        self.versions = [0] * len(keys)
        self.read_seq, self.read_time = -1, 0.0
        self.current = self.attempted = self.commit_seq = -1
        self.trace: list[Span] | None = None
        self.breaker = None
        self.cost = 0.0


class Client:
    def __init__(self, sim: "Simulation", cid: int) -> None:
        self.id, self.sim, self.env = cid, sim, sim.env
        self.store, self.net, self.policy, self.metrics = sim.store, sim.network, sim.policy, sim.metrics
        self.conn = Connection()
        self.cache: dict[int, tuple[int, int, float]] = {}      # value checks: key -> (version, seq, time)
        op = sim.scenario.operation
        self.kind = op.kind
        self.nreads = 0 if op.kind == "call" else op.reads
        self.nwrites = op.writes
        self.history_reads = op.kind == "reload"
        self.value_check = op.kind == "value_check"
        self.free_retries = op.value_check_retries
        self.compute = sim.sampler(op.compute, "compute")
        self.timed = op.timeout > 0 or self.policy.deadline > 0
        self.timeout = op.timeout
        self.lossy = sim.scenario.network.loss > 0

    # --- the retry loop ------------------------------------------------------------------
    def operation(self, keys: tuple[int, ...]) -> Generator:
        env, policy, metrics = self.env, self.policy, self.metrics
        op = Op(keys, env.now, self)
        self.sim.on_start(op)
        metrics.start(op.start)
        while True:
            if not policy.admit(op):
                outcome = REJECTED
                if op.trace is not None:
                    op.trace.append(Span(op.tries + 1, "rejected", env.now, env.now, None, None, "rejected",
                                         breaker=policy.state(op)))
                break
            outcome = yield from self.attempt(op)
            metrics.attempt(env.now, outcome, op.current - op.attempted + 1 if outcome == CONFLICT else 0,
                            op.optimistic)
            policy.record(op, outcome)
            if outcome == OK:
                break
            if op.optimistic and (outcome == CONFLICT or outcome == TOO_OLD) and op.free < self.free_retries:
                op.free += 1        # a failed value check always earns one pessimistic retry...
                op.attempts -= 1    # ...that the policy does not count
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
        metrics.finish(op.start, env.now, outcome)
        self.sim.on_finish(op, outcome)
        return outcome

    # --- one attempt -----------------------------------------------------------------------
    def attempt(self, op: Op) -> Generator:
        env = self.env
        op.attempts += 1
        op.tries += 1
        tries = op.tries
        op.read_seq = -1
        op.optimistic = False
        if self.kind == "call":
            request = _BLIND
        else:
            nreads = self.nreads
            op.optimistic = self.value_check and tries == 1 and self.use_cache(op)
            if nreads and not op.optimistic:
                history = self.history_reads or op.reload
                op.reload = False
                if self.net.pipelining and nreads > 1:
                    trip = self.pipelined_reads(op, history, tries)
                    outcome = yield from (self.raced(trip, op) if self.timed else trip)
                else:
                    for i in range(nreads):
                        trip = self.sequential_read(op, i, history, tries)
                        outcome = yield from (self.raced(trip, op) if self.timed else trip)
                        if outcome:
                            break
                if outcome:
                    return outcome
            if self.compute is not None:
                pause = self.compute()
                if op.trace is not None:
                    op.trace.append(Span(tries, "compute", env.now, env.now + pause, None, None, "ok"))
                if pause:
                    yield env.timeout(pause)
            keys, versions, w = op.keys, op.versions, self.nwrites
            request = CommitRequest(keys[:w], tuple(v + 1 for v in versions[:w]), keys[:nreads],
                                    tuple(versions[:nreads]), op.read_seq, op.read_time)
        trip = self.commit(op, request, tries)
        outcome = yield from (self.raced(trip, op) if self.timed else trip)
        if outcome == OK and self.value_check:
            for key, version in zip(request.writes, request.attempted):
                self.cache[key] = (version, op.commit_seq, env.now)
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

    def sequential_read(self, op: Op, i: int, history: bool, tries: int) -> Generator:
        env, net = self.env, self.net
        sent = env.now
        if self.lossy and net.lost():
            yield env.event()        # lost on the way: only the timeout will tell
        hop = net.send(self.conn, sent)
        if hop:
            yield env.timeout(hop)
        return (yield from self.serve_read(op, i, history, tries, sent, self.conn.message))

    def pipelined_reads(self, op: Op, history: bool, tries: int) -> Generator:
        """All reads in one message (one request hop), served concurrently, replies as each ends."""
        env, net = self.env, self.net
        sent = env.now
        if self.lossy and net.lost():
            yield env.event()
        hop = net.send(self.conn, sent)
        if hop:
            yield env.timeout(hop)
        message = self.conn.message
        reads = [env.process(self.serve_read(op, i, history, tries, sent, message)) for i in range(self.nreads)]
        yield env.all_of(reads)
        for read in reads:
            if read.value:
                return read.value
        return OK

    def serve_read(self, op: Op, i: int, history: bool, tries: int, sent: float, message: int) -> Generator:
        env, net = self.env, self.net
        key = op.keys[i]
        outcome, version, seq, events = yield from self.store.read(key, history)
        served = env.now
        if self.lossy and net.lost():
            yield env.event()
        hop = net.hop()
        if hop:
            yield env.timeout(hop)
        if op.tries == tries and outcome == OK:
            op.versions[i] = version
            if op.read_seq < 0:
                op.read_seq, op.read_time = seq, served
            if self.value_check:
                self.cache[key] = (version, seq, served)
        if op.trace is not None and op.tries == tries:
            op.trace.append(Span(tries, "history" if history else "read", sent, env.now, key, message,
                                 NAMES[outcome], current=version if outcome == OK else None,
                                 events=events if history else None))
        return outcome

    def commit(self, op: Op, request: CommitRequest, tries: int) -> Generator:
        env, net = self.env, self.net
        sent = env.now
        if self.lossy and net.lost():
            yield env.event()
        hop = net.send(self.conn, sent)
        if hop:
            yield env.timeout(hop)
        message = self.conn.message
        result = yield from self.store.commit(request)
        if self.lossy and net.lost():
            yield env.event()
        hop = net.hop()
        if hop:
            yield env.timeout(hop)
        if op.tries == tries:
            op.current, op.attempted, op.commit_seq = result.current, result.attempted, result.seq
            if op.trace is not None:
                key = request.writes[0] if request.writes else None
                op.trace.append(Span(tries, "commit", sent, env.now, key, message, NAMES[result.outcome],
                                     current=result.current if result.current >= 0 else None,
                                     attempted=(result.attempted if result.attempted >= 0 else
                                                request.attempted[0] if request.attempted else None),
                                     breaker=self.policy.state(op)))
        return result.outcome
