"""Running one round trip hedged (the `hedge` policy, gRFC A6): copies raced, first success wins.

The client hands over the round trip it would have run inline and a way to make another copy of
it. Each copy runs as its own process, so copies overlap; their replies are taken in the order
they arrive. The rules (A6 "Hedging Policy", "Summary of Retry and Hedging Logic"): a success
returns at once; a failure in `non_fatal` sends the next copy at once (the next scheduled one is
then due `delay` after it); any other failure returns at once; all copies failed → the last
failure. The request's time limit (timeout or what the deadline leaves) bounds the whole chain:
when it passes the result is a timeout and no further copy is sent.

Copies that lose keep running: the store serves what it received (it never learns a client stopped
waiting), so a losing commit can conflict with the winning twin. A round trip writes what it read
into the operation (`op.versions`) when its reply arrives, as long as the attempt is the same; a
loser whose reply arrives after the winner's would overwrite the winner's versions, so each copy,
on return, puts back what the winner wrote (`keep`: the slice of `op.versions` this round trip
writes). Commits write nothing that is read after a success ends the operation.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Generator

from .outcomes import OK, TIMEOUT
from .trace import Span

if TYPE_CHECKING:
    from .client import Op
    from .policies.hedge import Hedge


def run(env, hedge: "Hedge", op: "Op", trip: Generator, again: Callable[[], Generator], keep: slice,
        limit: float | None) -> Generator:
    """Run `trip` and up to `hedge.max_attempts - 1` copies made by `again()`, within `limit` seconds
    (None: no limit; <= 0: none left, so nothing is sent)."""
    if limit is not None and limit <= 0:
        trip.close()
        return TIMEOUT
    tries, won = op.tries, []
    running = [env.process(_copy(trip, op, tries, won, keep))]
    left = hedge.max_attempts - 1
    if not hedge.delay:                      # all copies at once
        running += [env.process(_copy(again(), op, tries, won, keep)) for _ in range(left)]
        left = 0
    end = env.now + limit if limit is not None else None
    waits = [env.timeout(limit)] if limit is not None else []
    outcome = OK
    while True:
        due = env.now + hedge.delay if left else None       # when the next copy is due
        yield env.any_of(running + waits + ([env.timeout(hedge.delay)] if left else []))
        for p in [p for p in running if p.triggered]:        # a process is triggered once it returned
            running.remove(p)
            outcome = p.value
            if outcome == OK or outcome not in hedge.nonfatal:
                return outcome
            if left:                         # a non-fatal failure: the next copy goes now
                running.append(env.process(_copy(again(), op, tries, won, keep)))
                left -= 1
                due = None
        if end is not None and env.now >= end:
            if op.trace is not None:
                op.trace.append(Span(tries, "timeout", end - limit, env.now, None, None, "timeout"))
            return TIMEOUT
        if due is not None and env.now >= due:
            running.append(env.process(_copy(again(), op, tries, won, keep)))
            left -= 1
        if not running:
            return outcome


def _copy(trip: Generator, op: "Op", tries: int, won: list, keep: slice) -> Generator:
    """One copy; the first to succeed records the versions it read, later ones put them back."""
    outcome = yield from trip
    if op.tries == tries:
        if won:
            op.versions[keep] = won[0]
        elif outcome == OK:
            won.append(op.versions[keep])
    return outcome
