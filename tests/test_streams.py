"""occmodel.streams: the batched seeding gives numpy's SeedSequence generators, draw for draw."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from occmodel import simulate
from occmodel.streams import BATCH_FROM, Streams, key_of, random_stream, seed_words, uint32_words


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**130), replication=st.integers(0, 2**40), name=st.text(max_size=12),
       ids=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=40))
def test_seed_words_are_numpys_seed_sequence(seed, replication, name, ids):
    prefix = key_of(seed, replication, name)
    words = seed_words(prefix, np.array(ids, dtype=np.uint64))
    for row, cid in zip(words, ids):
        assert row.tolist() == np.random.SeedSequence([*prefix, cid]).generate_state(4, np.uint64).tolist()


def test_uint32_words_split_low_word_first():
    assert uint32_words([0, 1, 2**32, 2**64 + 3]) == [0, 1, 0, 1, 3, 0, 1]
    with pytest.raises(ValueError):
        uint32_words([-1])


@pytest.mark.parametrize("clients", [1, BATCH_FROM - 1, BATCH_FROM, 200])
def test_streams_draw_what_random_stream_draws(clients):
    streams = Streams(2015, 3, clients)
    for cid in {0, clients // 2, clients - 1}:
        for name in ("network", "jitter"):
            assert streams(name, cid).random(50).tolist() == random_stream(2015, 3, name, cid).random(50).tolist()
    # outside the batch: a client id past the count, no id, two ids
    assert streams("keys", clients + 5).random(3).tolist() == random_stream(2015, 3, "keys", clients + 5).random(3).tolist()
    assert streams("arrivals").random(3).tolist() == random_stream(2015, 3, "arrivals").random(3).tolist()
    assert streams("x", 1, 2).random(3).tolist() == random_stream(2015, 3, "x", 1, 2).random(3).tolist()


def test_spawned_children_are_the_seed_sequences():
    """The hotspot key sampler spawns a child stream: it must be the real SeedSequence's child."""
    ours, theirs = Streams(7, 0, 64)("keys", 9), random_stream(7, 0, "keys", 9)
    for _ in range(2):     # a second spawn continues the count, as numpy's does
        a, b = ours.spawn(1)[0], theirs.spawn(1)[0]
        assert a.random(5).tolist() == b.random(5).tolist()


def test_a_many_client_run_is_unchanged_by_batched_seeding(monkeypatch):
    """The whole run with every stream made one SeedSequence at a time gives the same metrics."""
    scenario = {"workload": {"kind": "batch", "clients": 120, "ops_per_client": 2, "keys": {"count": 30}},
                "network": {"one_way": {"dist": "normal", "mean": "10ms", "sd": "2ms"}},
                "operation": {"kind": "append", "compute": {"dist": "exponential", "mean": "1ms"}},
                "policy": {"kind": "jitter", "mode": "full", "base": "5ms", "cap": "1s", "max_attempts": 0}}
    batched = simulate(scenario, seed=11).metrics
    monkeypatch.setattr("occmodel.streams.BATCH_FROM", 10**9)
    single = simulate(scenario, seed=11).metrics
    for m in (batched, single):
        m.pop("wall_s")
    assert batched == single
