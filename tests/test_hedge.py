"""gRPC hedging (gRFC A6 "Hedging Policy"), computed by hand.

Two levels: `hedging.run` driven with scripted round trips on a bare SimPy clock (when each copy
is sent, which reply wins, what the loser may not overwrite), and whole operations on a real
store with the network's delays scripted, where a hedged conditional commit meets its own twin.
"""
from __future__ import annotations

import pytest
import simpy

from occmodel import ConfigError
from occmodel.client import Client, Op
from occmodel.config import validate_scenario
from occmodel.hedging import run
from occmodel.model import Simulation
from occmodel.outcomes import CONFLICT, ERROR, OK, TIMEOUT
from occmodel.policies import build_policy
from test_policies import FakeSim

MS = 1e-3


def hedge(**kw):
    policy = build_policy({"kind": "hedge", "max_attempts": 3, **kw})
    policy.bind(FakeSim())
    return policy


class Script:
    """Round trips whose reply time, version read and outcome are scripted per copy, in send order."""

    def __init__(self, env: simpy.Environment, op: Op, copies: list[tuple[float, int, int]]) -> None:
        self.env, self.op, self.copies, self.sent = env, op, list(copies), []

    def trip(self):
        after, version, outcome = self.copies.pop(0)
        tries = self.op.tries

        def go():
            self.sent.append(self.env.now)
            yield self.env.timeout(after)
            if self.op.tries == tries and outcome == OK:
                self.op.versions[0] = version
            return outcome
        return go()


def drive(policy, copies, limit=None, until=1.0):
    env = simpy.Environment()
    op = Op((0,), 0.0, None)
    op.tries = 1
    script = Script(env, op, copies)
    done = env.process(run(env, policy, op, script.trip(), script.trip, slice(0, 1), limit))
    ended = []
    done.callbacks.append(lambda e: ended.append(env.now))
    env.run(until=until)
    return done.value, ended[0], script.sent, op


def test_copies_go_delay_apart_and_the_first_success_wins():
    # copy 1 answers at 10 ms, copy 2 (sent at 4 ms) at 4 + 2 = 6 ms: copy 2 wins, copy 3 never goes
    outcome, at, sent, op = drive(hedge(delay="4ms"), [(10 * MS, 5, OK), (2 * MS, 7, OK), (1 * MS, 9, OK)])
    assert outcome == OK and at == pytest.approx(6 * MS)
    assert sent == pytest.approx([0, 4 * MS])
    # copy 1's reply (version 5) came at 10 ms, after the winner: the winner's version 7 stays
    assert op.versions[0] == 7


def test_max_attempts_copies_at_most():
    # nobody answers before 20 ms: copies at 0, 4, 8 ms and no fourth
    outcome, at, sent, _ = drive(hedge(delay="4ms"), [(20 * MS, 1, OK), (20 * MS, 2, OK), (20 * MS, 3, OK)])
    assert sent == pytest.approx([0, 4 * MS, 8 * MS])
    assert outcome == OK and at == pytest.approx(20 * MS)


def test_a_fatal_failure_ends_the_request_at_once():
    # copy 1 fails at 1 ms; errors are fatal unless listed: no copy 2, the error returns at 1 ms
    outcome, at, sent, _ = drive(hedge(delay="4ms"), [(1 * MS, 0, ERROR), (1 * MS, 2, OK)])
    assert (outcome, sent) == (ERROR, [0]) and at == pytest.approx(1 * MS)


def test_a_non_fatal_failure_sends_the_next_copy_at_once_and_the_schedule_resumes_from_it():
    # copy 1 fails at 1 ms (non-fatal): copy 2 goes at 1 ms, copy 3 is then due at 1 + 4 = 5 ms
    policy = hedge(delay="4ms", non_fatal=["error"])
    outcome, at, sent, _ = drive(policy, [(1 * MS, 0, ERROR), (10 * MS, 2, OK), (1 * MS, 3, OK)])
    assert sent == pytest.approx([0, 1 * MS, 5 * MS])
    assert outcome == OK and at == pytest.approx(6 * MS)


def test_when_every_copy_fails_the_last_failure_returns():
    policy = hedge(delay="4ms", non_fatal=["error"])
    outcome, at, sent, _ = drive(policy, [(1 * MS, 0, ERROR), (1 * MS, 0, ERROR), (1 * MS, 0, ERROR)])
    assert outcome == ERROR and sent == pytest.approx([0, 1 * MS, 2 * MS]) and at == pytest.approx(3 * MS)


def test_zero_delay_sends_every_copy_at_once():
    outcome, at, sent, _ = drive(hedge(), [(9 * MS, 1, OK), (3 * MS, 2, OK), (5 * MS, 3, OK)])
    assert sent == [0, 0, 0] and outcome == OK and at == pytest.approx(3 * MS)


def test_the_time_limit_bounds_the_whole_chain_and_stops_further_copies():
    # limit 6 ms: copies at 0 and 4 ms, a timeout at 6 ms, and no copy at 8 ms
    outcome, at, sent, _ = drive(hedge(delay="4ms"), [(20 * MS, 1, OK)] * 3, limit=6 * MS)
    assert outcome == TIMEOUT and at == pytest.approx(6 * MS) and sent == pytest.approx([0, 4 * MS])
    outcome, _, sent, _ = drive(hedge(delay="4ms"), [(1 * MS, 1, OK)], limit=0.0)
    assert outcome == TIMEOUT and sent == []       # nothing left of the deadline: nothing is sent


def test_hedge_config_follows_a6():
    with pytest.raises(ConfigError, match="at most 5 copies"):
        build_policy({"kind": "hedge", "max_attempts": 6})
    with pytest.raises(ConfigError, match="policy.max_attempts"):
        build_policy({"kind": "hedge"})                            # required, as in A6
    with pytest.raises(ConfigError, match="policy.max_attempts"):
        build_policy({"kind": "hedge", "max_attempts": 1})
    p = build_policy({"kind": "hedge", "max_attempts": 2})
    assert p.delay == 0 and p.non_fatal == [] and p.wrapped.KIND == "none"
    outer = build_policy({"kind": "circuit_breaker", "inner": {"kind": "hedge", "max_attempts": 2}})
    assert outer.hedging() is outer.wrapped and build_policy({"kind": "none"}).hedging() is None


# --- whole operations on a real store ---------------------------------------------------------
def operation(policy: dict, hops_ms: list[float], until: float = 0.1) -> tuple[Simulation, list, list]:
    """One append on key 0 by one client: commits take 10 ms, reads no time, and the network's
    one-way delays are `hops_ms` in the order the hops are drawn."""
    scenario = validate_scenario({
        "workload": {"kind": "closed", "clients": 1, "keys": {"count": 1}},
        "network": {"one_way": "1ms"},
        "store": {"commit": {"capacity": "inf", "service": "10ms"}},
        "operation": {"kind": "append"},
        "policy": policy,
    })
    sim = Simulation(scenario, seed=1, replication=0, duration=1.0, warmup=0.0, bin_width=0.1)
    client = Client(sim, 0)
    hops = iter(h * MS for h in hops_ms).__next__
    client.hop = client.conn.hop = hops
    op_outcomes: list = []
    proc = sim.env.process(client.operation((0,)))
    proc.callbacks.append(lambda e: op_outcomes.append((sim.env.now, e.value)))
    sim.env.run(until=until)
    return sim, op_outcomes, client


def test_a_hedged_commit_conflicts_with_its_twin_that_wins():
    # read 0→2 ms (v0). Commit copy 1 sent at 2 ms: served 3..13 ms, writes v1, reply at 14 ms.
    # Copy 2 sent at 2 + 4 = 6 ms: served 7..17 ms, refused against v1 — its own twin's write.
    # The operation succeeds at 14 ms; the store served two commits and wrote once.
    policy = {"kind": "hedge", "max_attempts": 2, "delay": "4ms"}
    sim, outcomes, _ = operation(policy, [1, 1, 1, 1, 1, 1])
    assert outcomes == [(pytest.approx(14 * MS), OK)]
    assert sim.store.version[0] == 1
    assert sim.commit_server.busy == pytest.approx(20 * MS)         # both copies served in full
    assert sim.metrics.conflicts == 0                               # the client never saw the refusal


def test_when_the_twins_refusal_arrives_first_the_write_is_made_twice():
    # As above, but copy 1's reply takes 10 ms (arrives 23 ms) and copy 2's refusal 1 ms (18 ms).
    # Conflicts are fatal by default: the operation sees a conflict at 18 ms although v1 is its own
    # write; `inner` retries at once: reads v1 (18→20 ms), commits v2 (copy 3 served 21..31 ms,
    # reply at 32 ms; its twin, copy 4 sent at 24 ms, is refused at 35 ms against v2).
    policy = {"kind": "hedge", "max_attempts": 2, "delay": "4ms", "inner": {"kind": "immediate", "max_attempts": 2}}
    # hops in draw order: read, reply, c1, c2 (6 ms), c1 reply (13 ms), c2 reply (17 ms),
    #                     read (18 ms), reply, c3 (20 ms), c4 (24 ms), c3 reply (31 ms), c4 reply (35 ms)
    sim, outcomes, _ = operation(policy, [1, 1, 1, 1, 10, 1, 1, 1, 1, 1, 1, 1])
    assert outcomes == [(pytest.approx(32 * MS), OK)]
    assert sim.store.version[0] == 2                                # one append, written twice
    assert sim.metrics.conflicts == 1 and sim.metrics.attempts == 2
    assert sim.commit_server.busy == pytest.approx(40 * MS)         # four commits served for one append

    # with `conflict` non-fatal the client waits for copy 1's success: one write, at 23 ms
    policy["non_fatal"] = ["conflict"]
    sim, outcomes, _ = operation(policy, [1, 1, 1, 1, 10, 1])
    assert outcomes == [(pytest.approx(23 * MS), OK)] and sim.store.version[0] == 1


def test_without_hedging_the_same_operation_writes_once():
    sim, outcomes, _ = operation({"kind": "immediate", "max_attempts": 2}, [1, 1, 1, 10])
    assert outcomes == [(pytest.approx(23 * MS), OK)] and sim.store.version[0] == 1
    assert sim.commit_server.busy == pytest.approx(10 * MS)
