"""The random streams of a run: one numpy generator per (seed, replication, stream name[, client]).

A stream is keyed by what it belongs to and never by the sweep point, which is what makes every
comparison across points paired (common random numbers) while each client draws independently.
`random_stream` is the definition: `Generator(PCG64(SeedSequence([seed, replication,
crc32(name), client])))`. A run with hundreds of clients needs several streams per client, and
numpy's `SeedSequence` costs ~10 µs each (measured: 190 clients × 2 streams were a fifth of a
2015-study batch run's CPU). `Streams` gives the same generators, draw for draw, but computes the
seed words of every client of a stream at once: numpy's SeedSequence hash (its `mix_entropy` and
`generate_state`, a fixed sequence of 32-bit multiply-xorshift steps) done on arrays, one lane
per client, then handed to PCG64 through numpy's `ISeedSequence` interface. tests/test_streams.py
holds the two equal over random keys, large seeds included.
"""
from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np
from numpy.random.bit_generator import ISpawnableSeedSequence

MASK32 = 0xFFFFFFFF
# numpy/random/bit_generator.pyx: SeedSequence's hash constants (pool of 4 words, shift 16)
INIT_A, MULT_A, INIT_B, MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
MIX_MULT_L, MIX_MULT_R = 0xCA01F9DD, 0x4973F715
POOL, SHIFT = 4, np.uint32(16)
BATCH_FROM = 16     # fewer clients than this: one SeedSequence each is cheaper than the array pass


def key_of(seed: int, replication: int, stream: str, *extra: int) -> list[int]:
    """The entropy a stream is seeded with."""
    return [seed, replication, zlib.crc32(stream.encode()), *extra]


def random_stream(seed: int, replication: int, stream: str, *extra: int) -> np.random.Generator:
    """The generator of one named stream of one replication (`extra`: a client id): never keyed by
    the sweep point, so every point (and a real run of the same replication) draws the same values."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(key_of(seed, replication, stream, *extra))))


def uint32_words(values: Sequence[int]) -> list[int]:
    """The 32-bit words numpy's SeedSequence makes of a sequence of ints (each int low word
    first; 0 is one word)."""
    words: list[int] = []
    for value in values:
        value = int(value)
        if value < 0:
            raise ValueError(f"seed entropy must be >= 0, not {value}")
        words.append(value & MASK32)
        value >>= 32
        while value:
            words.append(value & MASK32)
            value >>= 32
    return words


def seed_words(prefix: Sequence[int], ids: np.ndarray) -> np.ndarray:
    """`SeedSequence([*prefix, id]).generate_state(4, np.uint64)` for every id at once: shape
    (len(ids), 4). Ids are below 2**32 (one word each), so every lane has the same entropy length
    and the hash constants, which depend only on the step, are scalars."""
    n = len(ids)
    entropy = [np.full(n, w, np.uint32) for w in uint32_words(prefix)] + [ids.astype(np.uint32)]
    const = INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal const
        value = value ^ np.uint32(const)
        const = (const * MULT_A) & MASK32
        value = value * np.uint32(const)
        return value ^ (value >> SHIFT)

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = np.uint32(MIX_MULT_L) * x - np.uint32(MIX_MULT_R) * y
        return result ^ (result >> SHIFT)

    zero = np.zeros(n, np.uint32)
    pool = [hashmix(entropy[i] if i < len(entropy) else zero) for i in range(POOL)]
    for src in range(POOL):
        for dst in range(POOL):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(POOL, len(entropy)):
        for dst in range(POOL):
            pool[dst] = mix(pool[dst], hashmix(entropy[src]))
    state = np.empty((n, 2 * POOL), np.uint32)
    const = INIT_B
    for i in range(2 * POOL):
        value = pool[i % POOL] ^ np.uint32(const)
        const = (const * MULT_B) & MASK32
        value = value * np.uint32(const)
        state[:, i] = value ^ (value >> SHIFT)
    return state.astype("<u4").view("<u8").astype(np.uint64)


class SeedWords(ISpawnableSeedSequence):
    """A SeedSequence whose state words are already computed (by `seed_words`); spawning, which
    only the hotspot key sampler does, goes to a real SeedSequence of the same key."""

    __slots__ = ("words", "key", "real")

    def __init__(self, words: np.ndarray, key: list[int]) -> None:
        self.words, self.key, self.real = words, key, None

    def generate_state(self, n_words: int, dtype: type = np.uint32) -> np.ndarray:
        if n_words != POOL or np.dtype(dtype) != np.uint64:     # PCG64 asks for exactly this
            return np.random.SeedSequence(self.key).generate_state(n_words, dtype)
        return self.words

    def spawn(self, n_children: int) -> list[np.random.SeedSequence]:
        if self.real is None:
            self.real = np.random.SeedSequence(self.key)
        return self.real.spawn(n_children)


class Streams:
    """The streams of one (seed, replication): `streams(name, client)` is
    `random_stream(seed, replication, name, client)`, with the seed words of a name's first
    `clients` clients computed together the first time any of them asks."""

    def __init__(self, seed: int, replication: int, clients: int) -> None:
        self.seed, self.replication, self.clients = seed, replication, clients
        self.made: dict[str, tuple[list[int], np.ndarray]] = {}   # name -> (key prefix, words per client)

    def __call__(self, stream: str, *extra: int) -> np.random.Generator:
        if len(extra) != 1 or self.clients < BATCH_FROM or not 0 <= extra[0] < self.clients:
            return random_stream(self.seed, self.replication, stream, *extra)
        made = self.made.get(stream)
        if made is None:
            prefix = key_of(self.seed, self.replication, stream)
            made = self.made[stream] = prefix, seed_words(prefix, np.arange(self.clients, dtype=np.uint64))
        prefix, words = made
        cid = extra[0]
        return np.random.Generator(np.random.PCG64(SeedWords(words[cid], [*prefix, cid])))
