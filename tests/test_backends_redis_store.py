"""Redis as an optimistic store, against a real redis-server: the two round trips of an attempt,
conflicts exactly when a watched key changed in between, the RESP replies parsed."""
import asyncio

import pytest

from occmodel.backends import StoreError, backend
from occmodel.backends.redis_store import ReplyError, parse
from occmodel.backends.url import parse_url
from servers import free_port


def run(coro):
    return asyncio.run(coro)


def test_append_commits_version_plus_one_and_detects_an_interleaved_commit(redis_url):
    b = backend(parse_url(redis_url))
    b.reset(4)

    async def scenario():
        a, c = await b.session("expected_version"), await b.session("expected_version")
        va, vc = await a.read([0], 1), await c.read([0], 1)
        first, second = await a.commit([0], va, 1), await c.commit([0], vc, 1)
        after = await a.read([0], 1)
        retry = await c.commit([0], await c.read([0], 1), 1)   # a fresh read: no conflict
        final = await a.read([0, 1], 0)
        await a.close(), await c.close()
        return va, vc, first, second, after, retry, final

    va, vc, first, second, after, retry, final = run(scenario())
    assert va == vc == [0]
    assert (first, second) == (True, False)      # the second commit saw a change since its read
    assert after == [1] and retry and final == [2, 0]


def test_expected_version_watches_only_written_keys_read_set_every_key_read(redis_url):
    b = backend(parse_url(redis_url))

    async def scenario(conflict):
        b.reset(4)
        me, other = await b.session(conflict), await b.session(conflict)
        seen = await me.read([0, 1], 1)                      # read keys 0 and 1, write key 0 only
        await other.commit([1], await other.read([1], 1), 1)  # someone changes key 1 (read, not written)
        ok = await me.commit([0, 1], seen, 1)
        await me.close(), await other.close()
        return ok

    assert run(scenario("expected_version")) is True
    assert run(scenario("read_set")) is False


def test_reset_puts_every_key_back_to_version_zero(redis_url):
    b = backend(parse_url(redis_url))

    async def bump():
        s = await b.session("expected_version")
        for key in (0, 3):
            await s.commit([key], await s.read([key], 1), 1)
        versions = await s.read([0, 1, 2, 3], 0)
        await s.close()
        return versions

    b.reset(4)
    assert run(bump()) == [1, 0, 0, 1]
    b.reset(4)
    assert run(bump()) == [1, 0, 0, 1]


def test_server_cpu_is_read_from_info(redis_url):
    cpu = backend(parse_url(redis_url)).server_cpu_s()
    assert cpu is not None and cpu >= 0


@pytest.mark.parametrize("raw,value,end", [
    (b"+OK\r\n", b"OK", 5), (b":42\r\n", 42, 5), (b"$3\r\nabc\r\n", b"abc", 9), (b"$-1\r\n", None, 5),
    (b"*-1\r\n", None, 5), (b"*2\r\n$1\r\n7\r\n$-1\r\n", [b"7", None], 16), (b"*1\r\n:1\r\n+x", [1], 8),
])
def test_parse_replies(raw, value, end):
    assert parse(raw, 0) == (value, end)


@pytest.mark.parametrize("partial", [b"+OK", b"$3\r\nab", b"*2\r\n:1\r\n", b""])
def test_parse_waits_for_the_rest(partial):
    assert parse(partial, 0) is None


def test_error_replies_become_exceptions():
    reply, _ = parse(b"-ERR wrong type\r\n", 0)
    assert isinstance(reply, ReplyError) and "wrong type" in str(reply)


def test_nothing_listening_is_one_store_error():
    b = backend(parse_url(f"redis://127.0.0.1:{free_port()}"))
    with pytest.raises(StoreError) as err:
        b.check()
    assert "no Redis server answered" in str(err.value) and str(err.value).startswith("--store redis://127.0.0.1:")
