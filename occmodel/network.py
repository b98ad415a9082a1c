"""Message hops between a client and the store.

Every hop draws its own one-way delay. A request rides in a *message*: requests a client sends
together (pipelined reads) share one message and so one request hop, and with a `coalesce`
window a client's requests sent within the window share the message that leaves when the
window closes. Replies travel separately, each as soon as its own service ends. A message may
be lost (the client draws that, on its own stream); only its request timeout finds that out.
"""
from __future__ import annotations

import itertools

from .config import Network as NetworkConfig
from .distributions import Sampler


class Connection:
    """A client's connection: its own one-way delay stream, and the message still open for coalescing."""

    __slots__ = ("hop", "depart", "arrive", "message")

    def __init__(self, hop: Sampler) -> None:
        self.hop = hop
        self.depart = self.arrive = -1.0
        self.message = 0


class Network:
    """Message ids and the coalescing rule; delays are drawn per connection (a stream per client)."""

    def __init__(self, cfg: NetworkConfig) -> None:
        self.pipelining = cfg.pipelining
        self.coalesce = cfg.coalesce
        self.ids = itertools.count(1)
        # traced coalescing runs only: message id -> [requests, ids of the operations they belong to]
        self.tally: dict[int, list] | None = None

    def count(self, message: int, op: object, requests: int) -> None:
        """Tally `requests` of operation `op` riding `message` (for the trace's message totals)."""
        entry = self.tally.setdefault(message, [0, set()])
        entry[0] += requests
        entry[1].add(id(op))       # ops sharing a message are alive together: ids are distinct

    def totals(self, messages: set[int]) -> dict[int, tuple[int, int]]:
        """(requests, operations) of each of `messages` that was tallied."""
        tally = self.tally or {}
        return {m: (tally[m][0], len(tally[m][1])) for m in messages if m in tally}

    def send(self, conn: Connection, now: float) -> float:
        """Delay until a request sent now reaches the store; sets `conn.message` to its message id."""
        if self.coalesce:
            if now <= conn.depart:           # the held message has not left yet: ride it
                return conn.arrive - now
            conn.depart = now + self.coalesce
            conn.arrive = conn.depart + conn.hop()
            conn.message = next(self.ids)
            return conn.arrive - now
        conn.message = next(self.ids)
        return conn.hop()
