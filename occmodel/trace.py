"""Operation traces: one operation, attempt by attempt, as a text timeline.

The model records `Span`s only for the traced operation (tracing is off otherwise and costs a
single `is None` test per request), in the spirit of the FoundationDB client's transaction log.
"""
from __future__ import annotations

from typing import NamedTuple


class Span(NamedTuple):
    """One request or pause of a traced operation; times are absolute simulated seconds."""

    attempt: int            # 1-based attempt number
    kind: str               # read | history | commit | compute | backoff | rejected
    start: float            # when the client sent it (or the pause began)
    end: float              # when the reply reached the client (or the pause ended)
    key: int | None         # key read or written (None for pauses)
    message: int | None     # id of the network message carrying the request: equal ids shared one round trip
    outcome: str            # ok | conflict | error | timeout | too_old | down | rejected
    current: int | None = None    # store's version of the key when served (conflicts: the current version)
    attempted: int | None = None  # version the commit tried to write
    events: int | None = None     # history events replayed (history reads): the request's size
    breaker: str | None = None    # breaker state when the attempt was admitted: closed | open | half_open
