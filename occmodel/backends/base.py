"""What a real store must offer the real clients, and the one error a run against it can end with.

A `Backend` is picklable (it holds only the parsed URL) so that each client process rebuilds its
connections from it. Its administrative side is synchronous and runs in the parent between runs
(`check`, `reset`, `server_cpu_s`); its client side is a `Session` per client, asynchronous, with
exactly the two round trips of the model's attempt: `read` (the versions of some keys, in one
message when pipelined) and `commit` (a conditional write: True, or False for a conflict).
Every way a store can fail a client (refused connection, reset, closed, an error reply) raises
one of `failures`, which the runner turns into a `StoreError` naming the store: CLI exit 2.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

from ..errors import ConfigError
from .url import StoreURL

KEY_PREFIX = "occmodel:"            # redis keys a run owns (reset before every run)
EVENTS_TABLE = "occmodel_events"    # postgresql table a run owns (truncated before every run)


class StoreError(ConfigError):
    """The store cannot be used or stopped working: one message naming it (CLI exit status 2)."""

    def __init__(self, url: str, problem: str):
        super().__init__("--store", url, problem)

    def __str__(self) -> str:
        return f"--store {self.value}: {self.allowed}"

    def __reduce__(self) -> tuple:
        return type(self), (self.value, self.allowed)


class Session:
    """One client's connection: the two round trips of an attempt."""

    async def read(self, keys: Sequence[int], watch: int) -> list[int]:
        """The current versions of `keys`, in one round trip; the first `watch` of them are
        watched for the commit (Redis WATCH; ignored where the commit itself checks)."""
        raise NotImplementedError

    async def commit(self, keys: Sequence[int], seen: Sequence[int], writes: int) -> bool:
        """Write version seen[i] + 1 to keys[i] for i < writes, if nothing watched or written changed."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class Backend:
    """A kind of real store at one URL."""

    kind: ClassVar[str] = ""
    # operation kinds, conflict rules: what this store's commit implements exactly
    operations: ClassVar[frozenset[str]] = frozenset()
    conflicts: ClassVar[frozenset[str]] = frozenset()
    failures: ClassVar[tuple[type[BaseException], ...]] = (OSError,)

    def __init__(self, url: StoreURL) -> None:
        self.url = url

    def fail(self, problem: str) -> StoreError:
        return StoreError(self.url.shown, problem)

    def check(self) -> dict[str, Any]:
        """Connect once and describe the server (version...); a `StoreError` if it does not answer."""
        raise NotImplementedError

    def reset(self, keys: int) -> None:
        """Every key 0..keys-1 back to version 0 (nothing written), before a run."""
        raise NotImplementedError

    def server_cpu_s(self) -> float | None:
        """CPU seconds the server has used so far, if it says (None otherwise)."""
        return None

    async def session(self, conflict: str) -> Session:
        """A new client connection whose commits follow the `conflict` rule."""
        raise NotImplementedError

    def describe_failure(self, exc: BaseException) -> str:
        return f"{type(exc).__name__}: {exc}".strip().rstrip(":")


__all__ = ["EVENTS_TABLE", "KEY_PREFIX", "Backend", "Session", "StoreError"]
