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
