"""Redis as an optimistic-concurrency store: WATCH / GET / MULTI / INCR / EXEC.

A key's value is its version (absent = 0). An attempt's read round trip sends `WATCH` on the keys
the commit must find unchanged and `MGET` of the keys read, in one message; its commit round trip
sends `MULTI`, an `INCR` per written key and `EXEC`, in one message. Redis runs the queued INCRs
only if no watched key was written since the WATCH, so a nil EXEC reply is the conflict, and a
successful INCR turns the version read (v) into v + 1: the model's append. Watching the written
keys is the `expected_version` rule, watching every key read the `read_set` rule (the model's
`mvcc_window` has no Redis counterpart: reported as not honoured by the runner).
(Commands: https://redis.io/docs/latest/develop/interact/transactions/ — "EXEC returns a Null
reply ... if the transaction was aborted" because a WATCHed key was modified.)

The client side of each round trip is a small RESP protocol on asyncio (`Resp`), not redis-py's
asyncio client: on this project's 2-core machines the client shares the cores with the server,
and redis-py's per-command Python layers cost several times more CPU per round trip than this
protocol's encode-and-scan, which would make the client, not Redis, the thing measured.
redis-py (the `redis` package) does the administration: the server check, the reset, INFO.
"""
from __future__ import annotations

import asyncio
from typing import Any, Sequence

from .base import KEY_PREFIX, Backend, Session

CONNECT_TIMEOUT_S = 5.0
RESET_BATCH = 1000


class ReplyError(Exception):
    """Redis answered with an error reply (-ERR ...)."""


def command(*args: bytes) -> bytes:
    """One command in RESP: an array of bulk strings."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def key_name(key: int) -> bytes:
    return b"%s%d" % (KEY_PREFIX.encode(), key)


class Resp(asyncio.Protocol):
    """Sends a message of commands, collects their replies, resolves one future per message.

    Replies understood: simple strings, errors, integers, bulk strings (nil too) and arrays of
    those (nil too): everything WATCH, MGET, MULTI, INCR and EXEC answer."""

    def __init__(self) -> None:
        self.buffer = b""
        self.wanted = 0
        self.replies: list[Any] = []
        self.waiter: asyncio.Future | None = None
        self.transport: asyncio.Transport | None = None
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport   # type: ignore[assignment]

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = exc or ConnectionResetError("the store closed the connection")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.wanted:
            parsed = parse(self.buffer, 0)
            if parsed is None:
                return
            reply, end = parsed
            self.buffer = self.buffer[end:]
            self.replies.append(reply)
            self.wanted -= 1
        waiter, replies = self.waiter, self.replies
        self.waiter, self.replies = None, []
        if waiter is not None and not waiter.done():
            waiter.set_result(replies)

    def call(self, message: bytes, replies: int) -> asyncio.Future:
        """Send `message` (that many commands); the future gets their replies, in order."""
        if self.lost is not None:
            raise self.lost
        self.wanted = replies
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(message)   # type: ignore[union-attr]
        return self.waiter


def parse(buf: bytes, at: int) -> tuple[Any, int] | None:
    """One RESP reply starting at `at`: (value, index after it), or None if not all there yet."""
    end = buf.find(b"\r\n", at)
    if end < 0:
        return None
    kind, line = buf[at:at + 1], buf[at + 1:end]
    if kind == b"+":
        return line, end + 2
    if kind == b"-":
        return ReplyError(line.decode(errors="replace")), end + 2
    if kind == b":":
        return int(line), end + 2
    if kind == b"$":
        n = int(line)
        if n < 0:
            return None, end + 2
        if len(buf) < end + 4 + n:
            return None
        return buf[end + 2:end + 2 + n], end + 4 + n
    if kind == b"*":
        n = int(line)
        if n < 0:
            return None, end + 2
        items, at = [], end + 2
        for _ in range(n):
            item = parse(buf, at)
            if item is None:
                return None
            items.append(item[0])
            at = item[1]
        return items, at
    raise ReplyError(f"unexpected reply from the store: {buf[at:at + 40]!r}")


class RedisSession(Session):
    def __init__(self, protocol: Resp, watch_reads: bool) -> None:
        self.protocol = protocol
        self.watch_reads = watch_reads

    async def read(self, keys: Sequence[int], watch: int) -> list[int]:
        names = [key_name(k) for k in keys]
        watched = names if self.watch_reads else names[:watch]
        message = command(b"MGET", *names)
        if watched:
            message = command(b"WATCH", *watched) + message
        replies = await self.protocol.call(message, 2 if watched else 1)
        for r in replies:
            if isinstance(r, ReplyError):
                raise r
        return [int(v) if v is not None else 0 for v in replies[-1]]

    async def commit(self, keys: Sequence[int], seen: Sequence[int], writes: int) -> bool:
        message = command(b"MULTI") + b"".join(command(b"INCR", key_name(k)) for k in keys[:writes]) + command(b"EXEC")
        replies = await self.protocol.call(message, writes + 2)
        for r in replies:
            if isinstance(r, ReplyError):
                raise r
        done = replies[-1]
        if done is None:
            return False
        for r in done:
            if isinstance(r, ReplyError):
                raise r
        return True

    async def close(self) -> None:
        if self.protocol.transport is not None:
            self.protocol.transport.close()


class RedisBackend(Backend):
    kind = "redis"
    operations = frozenset({"append", "transaction"})
    conflicts = frozenset({"expected_version", "read_set"})
    failures = (OSError, ReplyError, asyncio.TimeoutError, EOFError)

    def admin(self) -> Any:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        u = self.url
        # no retries: a store that refuses a connection is reported at once, not after redis-py's backoff
        return redis.Redis(host=u.host, port=u.port, db=int(u.database), socket_timeout=CONNECT_TIMEOUT_S,
                           socket_connect_timeout=CONNECT_TIMEOUT_S, retry=Retry(NoBackoff(), 0))

    def check(self) -> dict[str, Any]:
        import redis

        try:
            with self.admin() as r:
                info = r.info("server")
        except redis.RedisError as exc:
            raise self.fail(f"no Redis server answered there ({exc}); start one, e.g. "
                            f"redis-server --port {self.url.port} --bind 127.0.0.1 --save ''") from None
        return {"server": "redis", "version": info.get("redis_version")}

    def reset(self, keys: int) -> None:
        import redis

        try:
            with self.admin() as r:
                for start in range(0, keys, RESET_BATCH):
                    r.delete(*[key_name(k) for k in range(start, min(keys, start + RESET_BATCH))])
        except redis.RedisError as exc:
            raise self.fail(f"the store stopped answering while its keys were reset ({exc})") from None

    def server_cpu_s(self) -> float | None:
        import redis

        try:
            with self.admin() as r:
                cpu = r.info("cpu")
        except redis.RedisError:
            return None
        return float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])

    async def session(self, conflict: str = "expected_version") -> RedisSession:
        loop = asyncio.get_running_loop()
        u = self.url
        _, protocol = await asyncio.wait_for(loop.create_connection(Resp, u.host, u.port), CONNECT_TIMEOUT_S)
        if u.database != "0":
            replies = await protocol.call(command(b"SELECT", u.database.encode()), 1)
            if isinstance(replies[0], ReplyError):
                raise replies[0]
        return RedisSession(protocol, watch_reads=conflict == "read_set")
