"""Who issues operations, when, and on which keys.

- closed: N clients, each running operation, think, operation... until the run ends;
- open: Poisson arrivals (a rate or a piecewise schedule), each its own process, so retries add
  load on top of arrivals (the condition for retry storms), shared among `clients` (default 1);
- batch: N clients each run M operations from t = 0; the run ends when all are done.
Streams follow common random numbers: closed and batch clients draw keys and think times from
streams of their own (seeded by client id), open arrivals from one stream in arrival order, so
every policy sees the same operations in the same replication.
"""
from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Callable, Generator

import numpy as np

from .client import Client, block_size
from .config import KeyChoice
from .distributions import blocks
from .guards import SPIN_LIMIT, stalled

if TYPE_CHECKING:
    from .model import Simulation

KeySampler = Callable[[], tuple[int, ...]]
# a keyspace of one key: every choice is key 0 (whatever the popularity), so no stream is made for
# it (one random generator less per client: a setup cost that dominates short batch runs)
ONE_KEY: KeySampler = itertools.repeat((0,)).__next__


def key_sampler(cfg: KeyChoice, rng: np.random.Generator, distinct: int, size: int,
                owner: tuple[int, int] = (0, 1)) -> KeySampler:
    """Draws `distinct` different keys per operation, with the configured popularity.

    With `affinity` f, client `owner = (id, clients)` takes a key from its own share of the
    keyspace (keys ≡ id mod clients) with probability f: sticky sessions, single writers.
    Every block of `size` keys consumes the stream in the same order whatever `size` is (blocks
    are smaller above 64 clients), so a client's keys are the same at every sweep point."""
    k = cfg.count
    if cfg.choice == "uniform":
        fill = lambda n: rng.integers(0, k, n)  # noqa: E731
    elif cfg.choice == "zipf":
        weights = 1.0 / np.arange(1, k + 1) ** cfg.s
        p = weights / weights.sum()
        fill = lambda n: rng.choice(k, n, p=p)  # noqa: E731
    else:
        hot = min(cfg.hot_keys, k)
        cold = k - hot

        def fill(n: int) -> np.ndarray:
            u, pick = rng.random((n, 2)).T      # pairs: the same keys whatever the block size
            is_hot = (u < cfg.hot_fraction) | (cold == 0)
            return np.where(is_hot, (pick * hot).astype(np.int64), hot + (pick * max(cold, 1)).astype(np.int64))

    if cfg.affinity:
        cid, clients = owner
        own = np.arange(cid % k, k, clients)
        popular, mine = fill, rng.spawn(1)[0]     # its own stream, or the popularity draw's would shift

        def fill(n: int) -> np.ndarray:  # noqa: F811  (wraps the popularity draw)
            keys, (u, pick) = popular(n), mine.random((n, 2)).T
            return np.where(u < cfg.affinity, own[(pick * len(own)).astype(np.int64)], keys)

    if distinct == 1:     # 1-tuples made in C, a block at a time
        return blocks(lambda n: zip(fill(n).tolist()), size, convert=False)
    draw = blocks(fill, size)

    def several() -> tuple[int, ...]:
        keys: list[int] = []
        while len(keys) < distinct:
            key = draw()
            if key not in keys:
                keys.append(key)
        return tuple(keys)

    return several


def start(sim: "Simulation") -> Generator | None:
    """Start the workload's processes; returns the event that ends a batch run (else None)."""
    w, env = sim.scenario.workload, sim.env
    distinct = max(1, sim.scenario.operation.reads, sim.scenario.operation.writes)
    if w.kind == "open":
        sim.clients.extend(Client(sim, cid) for cid in range(w.clients))
        env.process(_arrivals(sim, sim.clients, key_sampler(w.keys, sim.rng("keys"), distinct, 1024)))
        return None
    size = block_size(w.clients)
    done = env.event() if w.kind == "batch" else None
    left = [w.clients]

    def finished(_: object) -> None:      # a batch client is done: the last one ends the run
        left[0] -= 1
        if not left[0]:
            done.succeed()

    for cid in range(w.clients):
        client = Client(sim, cid)
        sim.clients.append(client)
        keys = ONE_KEY if w.keys.count == 1 else key_sampler(w.keys, sim.rng("keys", cid), distinct, size,
                                                             (cid, w.clients))
        think = sim.sampler(w.think, "think", cid, size=size)
        # a batch client's one operation is its whole life (no loop around it); its end is counted
        # by a callback (an AllOf over thousands of processes costs milliseconds to build); a lean
        # client's loop is driven without a Process (`Environment.drive`: nothing waits on it)
        if w.kind == "closed":
            life = _closed(sim, client, keys, think)
        else:
            life = client.operation(keys()) if w.ops_per_client == 1 else _batch(client, keys, think, w.ops_per_client)
        if client.lean:
            env.drive(life, None if done is None else lambda: finished(None))
        elif done is None:
            env.process(life)
        else:
            env.process(life).callbacks.append(finished)
    return done


def _closed(sim: "Simulation", client: Client, keys: KeySampler, think: Callable[[], float] | None) -> Generator:
    """Operation, think, operation... for as long as the run goes (through the drain too)."""
    env = sim.env
    instant, spins = -1.0, 0    # operations finished at one simulated instant: a zero-time loop?
    while True:
        yield from client.operation(keys())
        if env.now != instant:
            instant, spins = env.now, 0
        else:
            spins += 1
            if spins >= SPIN_LIMIT:
                raise stalled(instant, think is not None)
        if think is not None:
            pause = think()
            if pause:
                yield env.timeout(pause)


def _batch(client: Client, keys: KeySampler, think: Callable[[], float] | None, ops: int) -> Generator:
    for i in range(ops):
        if i and think is not None:
            pause = think()
            if pause:
                yield client.env.timeout(pause)
        yield from client.operation(keys())


def _arrivals(sim: "Simulation", clients: list[Client], keys: KeySampler) -> Generator:
    """Poisson arrivals; at a rate change the next gap is redrawn (memoryless, so exact).

    Each arrival goes to a client drawn uniformly (its own stream), so each of N clients sees a
    Poisson process at rate/N: the thinning of a Poisson process is Poisson. Arrivals go on
    for as long as the run does (through the drain too)."""
    env = sim.env
    w = sim.scenario.workload
    steps = [(math.inf, w.rate, False)] if w.schedule is None else [
        (s.until if s.until is not None else math.inf, s.rate, s.ramp) for s in w.schedule]
    rng, assign = sim.rng("arrivals"), sim.rng("assign")
    gaps = blocks(lambda n: rng.exponential(1.0, n))
    pick = blocks(lambda n: assign.integers(0, len(clients), n)) if len(clients) > 1 else (lambda: 0)
    begin, before = 0.0, 0.0
    for until, rate, ramp in steps:
        slope = (rate - before) / (until - begin) if ramp else 0.0
        while env.now < until:
            gap = ramp_gap(gaps(), before + slope * (env.now - begin), slope) if ramp else \
                gaps() / rate if rate > 0 else math.inf
            if env.now + gap >= until:
                if math.isinf(until):
                    return
                yield env.timeout(until - env.now)
                break
            yield env.timeout(gap)
            env.process(clients[pick()].operation(keys()))
        begin, before = until, rate


def ramp_gap(mass: float, rate: float, slope: float) -> float:
    """Time until the rate λ(u) = rate + slope·u integrates to `mass` (inf if it never does).

    Inversion of a non-homogeneous Poisson process: with unit-exponential `mass`, the gap to the
    next arrival solves rate·u + slope·u²/2 = mass; written as 2·mass / (rate + √(rate² + 2·slope·mass))
    so that slope → 0 is stable. A falling rate that reaches 0 first never gets there."""
    disc = rate * rate + 2.0 * slope * mass
    if disc < 0 or rate + math.sqrt(max(disc, 0.0)) <= 0:
        return math.inf
    return 2.0 * mass / (rate + math.sqrt(disc))
