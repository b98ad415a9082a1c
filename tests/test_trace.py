"""The text timeline shows what the design promises: shared round trips, versions, delays, breaker."""
from __future__ import annotations

from occmodel.trace import Span, render

T0 = 42.0  # spans carry absolute simulated times; the rendering is relative to the first one


def _reads(pipelined: bool) -> list[Span]:
    """Three reads of one attempt: in one message (pipelined) or one after the other."""
    if pipelined:
        return [Span(1, "read", T0, T0 + 0.001 + k * 1e-4, k, 7, "ok", current=3, breaker="closed")
                for k in range(3)]
    return [Span(1, "read", T0 + k * 0.001, T0 + (k + 1) * 0.001, k, 7 + k, "ok", current=3, breaker="closed")
            for k in range(3)]


def _operation(pipelined: bool) -> list[Span]:
    """Reads, a conflicting commit, a 10 ms backoff, then a second attempt that succeeds."""
    t = T0 + 0.003
    return [*_reads(pipelined),
            Span(1, "commit", t, t + 0.002, 0, 20, "conflict", current=12, attempted=11),
            Span(1, "backoff", t + 0.002, t + 0.012, None, None, "ok"),
            Span(2, "history", t + 0.012, t + 0.014, 0, 21, "ok", current=12, events=250,
                 breaker="half_open"),
            Span(2, "commit", t + 0.014, t + 0.016, 0, 22, "ok", current=12, attempted=13)]


def test_shared_round_trip_only_when_pipelined() -> None:
    pipelined, sequential = render(_operation(True)), render(_operation(False))
    assert pipelined.count("msg#7 (shared by 3)") == 3
    assert "shared" not in sequential
    assert "attempt 1 (breaker closed): 4 requests in 2 round trips" in pipelined    # 3 reads + commit
    assert "attempt 1 (breaker closed): 4 requests in 4 round trips" in sequential


def test_conflict_versions_delay_breaker_and_total() -> None:
    text = render(_operation(True))
    assert "current v12 vs attempted v11" in text
    assert "delay chosen: 10.000 ms" in text
    assert "250 events replayed" in text and "wrote v13" in text
    assert "attempt 1 (breaker closed)" in text and "attempt 2 (breaker half_open)" in text
    assert "-> conflict" in text and "-> ok" in text
    last = text.rstrip().splitlines()[-1]
    assert last.startswith("total 19.000 ms, 2 attempts") and last.endswith("final outcome: ok")


def test_times_are_relative_and_bars_scaled_to_the_operation() -> None:
    lines = render(_operation(False), width=19).splitlines()
    rows = [line for line in lines if line.lstrip()[:1].isdigit()]
    assert rows[0].split()[:3] == ["0.000", "1.000", "1.000"]
    assert rows[-1].split()[:3] == ["17.000", "19.000", "2.000"]
    bars = [row[row.index("|") + 1:row.rindex("|")] for row in rows]
    assert all(len(b) == 19 for b in bars)
    assert bars[0] == "=" + " " * 18 and bars[1] == " =" + " " * 17     # 1 column = 1 ms
    assert bars[-1].endswith("##") and bars[4].strip() == "." * 10        # the backoff spans 10 ms


def test_fits_a_terminal_and_handles_fast_fail() -> None:
    text = render(_operation(True))
    assert max(len(line) for line in text.splitlines()) <= 120
    rejected = render([Span(1, "rejected", 5.0, 5.0, None, None, "rejected", breaker="open")])
    assert "fast-failed (breaker open)" in rejected and "final outcome: rejected" in rejected
    assert render([]).strip()


def test_real_trace_shows_pipelined_reads_sharing_one_round_trip():
    import occmodel
    from occmodel.trace import render

    def traced(pipelining):
        sc = {"workload": {"kind": "batch", "clients": 1, "keys": {"count": 8}},
              "network": {"one_way": "1ms", "pipelining": pipelining},
              "operation": {"kind": "transaction", "reads": 3}}
        return render(occmodel.simulate(sc, seed=1, trace_op=0).trace)

    assert "shared by 3" in traced(True) and "4 requests in 2 round trips" in traced(True)
    assert "shared by" not in traced(False) and "4 requests in 4 round trips" in traced(False)


def test_coalesced_message_shows_its_total_across_operations():
    """Under `coalesce`, the traced operation's commit rides a message with other operations'
    requests: the trace names the message's total, not just the traced operation's share."""
    import occmodel
    from occmodel.trace import render

    sc = {"workload": {"kind": "open", "rate": 2000, "clients": 1}, "operation": {"kind": "call"},
          "network": {"one_way": "1ms", "coalesce": "5ms"}}
    r = occmodel.simulate(sc, seed=1, trace_op=20, duration=0.2)
    [commit] = [s for s in r.trace if s.kind == "commit"]
    requests, ops = r.messages[commit.message]
    assert requests == ops >= 2                        # one commit from each of several operations
    assert f"msg#{commit.message}: {requests} requests of {ops} operations" in render(r.trace, messages=r.messages)
    # without the totals the same trace cannot tell: one request, not shared
    assert f"msg#{commit.message}" not in render(r.trace)
    plain = occmodel.simulate({**sc, "network": {"one_way": "1ms"}}, seed=1, trace_op=20, duration=0.2)
    assert plain.messages == {}


def _two_writers(conflict: str, seed: int, op: int, reads: int, count: int) -> list[Span]:
    """Two batch clients, one operation each, started together; commits served one at a time."""
    import occmodel

    sc = {"workload": {"kind": "batch", "clients": 2, "keys": {"count": count}},
          "network": {"one_way": {"dist": "constant", "value": 0.001}, "pipelining": False},
          "store": {"conflict": conflict, "commit": {"capacity": 1, "service": {"dist": "constant", "value": "1ms"}}},
          "operation": {"kind": "transaction", "reads": reads, "writes": 1}, "policy": {"kind": "none"}}
    return occmodel.simulate(sc, seed=seed, trace_op=op).trace


def test_expected_version_conflict_line_names_the_key_and_the_gap() -> None:
    spans = [_two_writers("expected_version", 1, op, 1, 1) for op in (0, 1)]
    commits = [next(s for s in trace if s.kind == "commit") for trace in spans]
    loser = next(i for i, c in enumerate(commits) if c.outcome == "conflict")
    assert commits[1 - loser].outcome == "ok"
    assert "conflict on k0: current v1 vs attempted v1, version gap 1" in render(spans[loser])


def test_read_set_conflict_line_names_the_read_key_written_after_the_read_version() -> None:
    """Each reads both keys and writes the first it drew; when they write different keys, the
    loser's conflict is on the key it only read, which the winner wrote at commit version 1."""
    for seed in range(1, 50):
        spans = [_two_writers("read_set", seed, op, 2, 2) for op in (0, 1)]
        written = [trace[0].key for trace in spans]            # sequential reads: keys[0] first
        if written[0] != written[1]:
            break
    else:
        raise AssertionError("no seed gave two different written keys")
    commits = [next(s for s in trace if s.kind == "commit") for trace in spans]
    loser = next(i for i, c in enumerate(commits) if c.outcome == "conflict")
    winner = 1 - loser
    assert commits[winner].outcome == "ok" and commits[winner].key == written[winner]
    assert commits[loser].key == written[winner] != written[loser]
    assert (f"conflict on k{written[winner]}: written at version 1 after read version 0 "
            f"(now v1, read as v0: version gap 1)") in render(spans[loser])
    # the same operations under expected_version: different written keys, so both succeed
    assert all(next(s for s in _two_writers("expected_version", seed, op, 2, 2) if s.kind == "commit").outcome
               == "ok" for op in (0, 1))


def test_cached_conflict_says_so() -> None:
    text = render([Span(1, "commit", T0, T0 + 0.002, 3, 5, "conflict", current=9, attempted=7, cached=True)])
    assert "conflict on k3: current v9 vs attempted v7, version gap 3, from a cached version (value check)" in text


def test_coalesced_totals_count_requests_and_operations_apart():
    """Pipelined 3-read transactions under `coalesce`: a message carries up to 3 requests of each
    operation riding it (its reads) or 1 (its commit), so requests and operations differ, and the
    traced operation's read message holds its own 3 reads and other operations' requests."""
    import occmodel
    from occmodel.trace import render

    sc = {"workload": {"kind": "open", "rate": 2000, "clients": 1, "keys": {"count": 64}},
          "operation": {"kind": "transaction", "reads": 3},
          "network": {"one_way": "1ms", "coalesce": "5ms", "pipelining": True}}
    r = occmodel.simulate(sc, seed=1, trace_op=20, duration=0.2)
    reads = {s.message for s in r.trace if s.kind == "read"}
    assert len(reads) == 1
    requests, ops = r.messages[reads.pop()]
    assert ops >= 2 and ops < requests <= 3 * ops and requests >= 3 + (ops - 1)
    assert all(ops <= requests <= 3 * ops for requests, ops in r.messages.values())
    assert f"{requests} requests of {ops} operations" in render(r.trace, messages=r.messages)
